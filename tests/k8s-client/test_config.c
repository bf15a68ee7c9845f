// SPDX-License-Identifier: MIT
/*
 * kubeconfig and in-cluster config: good files in both forms (paths and
 * -data), and bad ones, each of which must fail with a message naming the
 * file and the field. Certificates and keys are made here with OpenSSL,
 * in a temporary directory that goes at the end.
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "k8s.h"
#include "kt.h"

static char dir[256];
static char ca_pem[8192], cert_pem[8192], key_pem[8192], key2_pem[8192];
static char ca_b64[12000], cert_b64[12000], key_b64[12000], key2_b64[12000];

static void pem_of_key(EVP_PKEY *k, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	int n = BIO_read(b, out, (int)len - 1);
	out[n > 0 ? n : 0] = 0;
	BIO_free(b);
}

static X509 *self_signed(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_sign(x, k, EVP_sha256());
	return x;
}

static void pem_of_cert(X509 *x, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	int n = BIO_read(b, out, (int)len - 1);
	out[n > 0 ? n : 0] = 0;
	BIO_free(b);
}

static void b64(const char *in, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)strlen(in));
}

static void write_file(const char *name, const char *fmt, ...)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(2);
	}
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

static const char *path_of(const char *name)
{
	static char p[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void make_material(void)
{
	EVP_PKEY *ca = EVP_EC_gen("P-256"), *cl = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
	X509 *cax = self_signed(ca, "test-ca"), *clx = self_signed(cl, "test-client");
	pem_of_cert(cax, ca_pem, sizeof(ca_pem));
	pem_of_cert(clx, cert_pem, sizeof(cert_pem));
	pem_of_key(cl, key_pem, sizeof(key_pem));
	pem_of_key(other, key2_pem, sizeof(key2_pem));
	b64(ca_pem, ca_b64);
	b64(cert_pem, cert_b64);
	b64(key_pem, key_b64);
	b64(key2_pem, key2_b64);
	write_file("ca.crt", "%s", ca_pem);
	write_file("client.crt", "%s", cert_pem);
	write_file("client.key", "%s", key_pem);
	write_file("other.key", "%s", key2_pem);
	write_file("token", "s3cr3t-token\n");
	write_file("empty-token", "\n");
	write_file("garbage.crt", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
	X509_free(cax);
	X509_free(clx);
	EVP_PKEY_free(ca);
	EVP_PKEY_free(cl);
	EVP_PKEY_free(other);
}

/* A kubeconfig with one context "c" (and "other"), cluster and user bodies given as YAML lines. */
static void kubeconfig(const char *name, const char *cluster, const char *user)
{
	write_file(name,
		   "apiVersion: v1\n"
		   "kind: Config\n"
		   "clusters:\n"
		   "- name: cl\n"
		   "  cluster:\n%s"
		   "- name: cl2\n"
		   "  cluster:\n"
		   "    server: https://10.0.0.2:6443/\n"
		   "    insecure-skip-tls-verify: true\n"
		   "users:\n"
		   "- name: u\n"
		   "  user:\n%s"
		   "- name: u2\n"
		   "  user:\n"
		   "    token: other-token\n"
		   "contexts:\n"
		   "- name: c\n"
		   "  context: {cluster: cl, user: u, namespace: team}\n"
		   "- name: other\n"
		   "  context: {cluster: cl2, user: u2}\n"
		   "current-context: c\n",
		   cluster, user);
}

static void test_file_forms(void)
{
	struct azds_k8s_config c;
	struct azds_k8s_err e;
	kubeconfig("files.yaml", "    server: https://10.201.0.1:443\n    certificate-authority: ca.crt\n",
		   "    client-certificate: client.crt\n    client-key: ./client.key\n");
	int ret = azds_k8s_config_load(&c, path_of("files.yaml"), NULL, &e);
	CHECK(ret == 0, "files.yaml: %d %s", ret, e.msg);
	if (ret)
		return;
	CHECK(!strcmp(c.server, "https://10.201.0.1:443"), "server %s", c.server);
	CHECK(!strcmp(c.ns, "team"), "ns %s", c.ns);
	CHECK(!strcmp(c.context, "c"), "context %s", c.context);
	CHECK(c.ca && c.ca_len == strlen(ca_pem) && !memcmp(c.ca, ca_pem, c.ca_len), "ca read from the relative path");
	CHECK(c.cert && !strcmp(c.cert, cert_pem), "cert");
	CHECK(c.key && !strcmp(c.key, key_pem), "key");
	CHECK(!c.token && !c.insecure, "no token, verified");
	azds_k8s_config_free(&c);

	/* The other context: a trailing slash goes, insecure, a token, the default namespace. */
	ret = azds_k8s_config_load(&c, path_of("files.yaml"), "other", &e);
	CHECK(ret == 0, "context other: %s", e.msg);
	if (!ret) {
		CHECK(!strcmp(c.server, "https://10.0.0.2:6443"), "server %s", c.server);
		CHECK(c.insecure && !c.ca, "insecure");
		CHECK(c.token && !strcmp(c.token, "other-token"), "token");
		CHECK(!strcmp(c.ns, "default"), "ns %s", c.ns);
		azds_k8s_config_free(&c);
	}

	/* tokenFile, its newline trimmed, and its path kept for re-reading. */
	kubeconfig("tokfile.yaml", "    server: https://h\n    certificate-authority: ca.crt\n",
		   "    tokenFile: token\n");
	ret = azds_k8s_config_load(&c, path_of("tokfile.yaml"), NULL, &e);
	CHECK(ret == 0, "tokfile: %s", e.msg);
	if (!ret) {
		CHECK(c.token && !strcmp(c.token, "s3cr3t-token"), "token %s", c.token ? c.token : "(null)");
		CHECK(!strcmp(c.token_file, path_of("token")), "token_file %s", c.token_file);
		azds_k8s_config_free(&c);
	}
}

static void test_data_forms(void)
{
	struct azds_k8s_config c;
	struct azds_k8s_err e;
	char cl[16384], us[32768];
	snprintf(cl, sizeof(cl), "    server: https://[fd00::1]:6443\n    certificate-authority-data: %s\n", ca_b64);
	snprintf(us, sizeof(us), "    client-certificate-data: %s\n    client-key-data: %s\n    token: tok\n", cert_b64,
		 key_b64);
	kubeconfig("data.yaml", cl, us);
	int ret = azds_k8s_config_load(&c, path_of("data.yaml"), NULL, &e);
	CHECK(ret == 0, "data.yaml: %s", e.msg);
	if (ret)
		return;
	CHECK(c.ca && !strcmp(c.ca, ca_pem), "ca decoded");
	CHECK(c.cert && !strcmp(c.cert, cert_pem), "cert decoded");
	CHECK(c.key && !strcmp(c.key, key_pem), "key decoded");
	CHECK(c.token && !strcmp(c.token, "tok"), "token beside the certificate");
	azds_k8s_config_free(&c);

	/* $KUBECONFIG: its first file is the one read. */
	char env[1024];
	snprintf(env, sizeof(env), "%s:%s", path_of("data.yaml"), path_of("files.yaml"));
	setenv("KUBECONFIG", env, 1);
	ret = azds_k8s_config_load(&c, NULL, NULL, &e);
	CHECK(ret == 0 && !strcmp(c.source, path_of("data.yaml")), "$KUBECONFIG's first: %d %s", ret, e.msg);
	azds_k8s_config_free(&c);
	ret = azds_k8s_config_auto(&c, NULL, NULL, &e);
	CHECK(ret == 0 && !strcmp(c.source, path_of("data.yaml")), "auto takes $KUBECONFIG: %d %s", ret, e.msg);
	azds_k8s_config_free(&c);
	unsetenv("KUBECONFIG");
}

/* Each bad file must fail with ERR and a message holding the file's name and NEEDLE. */
static void bad(const char *name, int err, const char *needle, const char *context)
{
	struct azds_k8s_config c;
	struct azds_k8s_err e;
	int ret = azds_k8s_config_load(&c, path_of(name), context, &e);
	CHECK(ret == err, "%s: returned %d, not %d (%s)", name, ret, err, e.msg);
	CHECK_MSG(&e, needle);
	CHECK_MSG(&e, name);
	if (!ret)
		azds_k8s_config_free(&c);
}

static void test_bad(void)
{
	char cl[16384], us[32768];
	const char *good_cl = "    server: https://h\n    certificate-authority: ca.crt\n";

	write_file("syntax.yaml", "clusters:\n- name: [unclosed\n");
	bad("syntax.yaml", -EINVAL, "syntax.yaml:", NULL);
	write_file("scalar.yaml", "just a string\n");
	bad("scalar.yaml", -EINVAL, "not a kubeconfig", NULL);
	write_file("nocur.yaml", "clusters: []\n");
	bad("nocur.yaml", -ENOENT, "current-context", NULL);
	kubeconfig("ctx.yaml", good_cl, "    token: t\n");
	bad("ctx.yaml", -ENOENT, "contexts: no entry named \"nope\"", "nope");
	kubeconfig("noserver.yaml", "    certificate-authority: ca.crt\n", "    token: t\n");
	bad("noserver.yaml", -EINVAL, "clusters[name=cl].cluster.server: missing", NULL);
	kubeconfig("badurl.yaml", "    server: ftp://h\n", "    token: t\n");
	bad("badurl.yaml", -EINVAL, "not an http(s):// URL", NULL);
	kubeconfig("cab64.yaml", "    server: https://h\n    certificate-authority-data: '!!!not base64!!!'\n",
		   "    token: t\n");
	bad("cab64.yaml", -EINVAL, "certificate-authority-data: not base64", NULL);
	kubeconfig("capem.yaml", "    server: https://h\n    certificate-authority-data: aGVsbG8gd29ybGQK\n",
		   "    token: t\n");
	bad("capem.yaml", -EINVAL, "certificate-authority-data: not a PEM certificate bundle", NULL);
	kubeconfig("cafile.yaml", "    server: https://h\n    certificate-authority: /nonexistent/ca.crt\n",
		   "    token: t\n");
	bad("cafile.yaml", -ENOENT, "certificate-authority: read /nonexistent/ca.crt", NULL);
	kubeconfig("cagarbage.yaml", "    server: https://h\n    certificate-authority: garbage.crt\n",
		   "    token: t\n");
	bad("cagarbage.yaml", -EINVAL, "garbage.crt is not a PEM certificate bundle", NULL);
	kubeconfig("nokey.yaml", good_cl, "    client-certificate: client.crt\n");
	bad("nokey.yaml", -EINVAL, "users[name=u].user: client-certificate without client-key", NULL);
	kubeconfig("mismatch.yaml", good_cl, "    client-certificate: client.crt\n    client-key: other.key\n");
	bad("mismatch.yaml", -EINVAL, "client-key does not match client-certificate", NULL);
	snprintf(us, sizeof(us), "    client-certificate-data: %s\n    client-key-data: %s\n", cert_b64, cert_b64);
	kubeconfig("keydata.yaml", good_cl, us);
	bad("keydata.yaml", -EINVAL, "client-key-data: not a PEM private key", NULL);
	kubeconfig("exec.yaml", good_cl, "    exec:\n      command: aws\n");
	bad("exec.yaml", -EOPNOTSUPP, "users[name=u].user.exec: not supported", NULL);
	kubeconfig("bool.yaml", "    server: https://h\n    insecure-skip-tls-verify: maybe\n", "    token: t\n");
	bad("bool.yaml", -EINVAL, "insecure-skip-tls-verify: \"maybe\" is not true or false", NULL);
	kubeconfig("both.yaml",
		   "    server: https://h\n    insecure-skip-tls-verify: true\n    certificate-authority: ca.crt\n",
		   "    token: t\n");
	bad("both.yaml", -EINVAL, "insecure-skip-tls-verify with a certificate-authority", NULL);
	kubeconfig("emptytok.yaml", good_cl, "    tokenFile: empty-token\n");
	bad("emptytok.yaml", -EINVAL, "tokenFile: token file", NULL);
	kubeconfig("server-list.yaml", "    server: [a, b]\n", "    token: t\n");
	bad("server-list.yaml", -EINVAL, "clusters[name=cl].cluster.server: not a string", NULL);
	snprintf(cl, sizeof(cl), "    server: https://h\n    certificate-authority-data: %s\n", cert_b64);
	kubeconfig("nouser.yaml", cl, "    token: t\n");
	write_file("nouser.yaml", "clusters:\n- name: cl\n  cluster: {server: 'https://h'}\n"
				  "contexts:\n- name: c\n  context: {cluster: cl, user: ghost}\ncurrent-context: c\n");
	bad("nouser.yaml", -ENOENT, "users", NULL);

	/* Too big: refused before parsing. */
	char p[512];
	snprintf(p, sizeof(p), "%s/huge.yaml", dir);
	FILE *f = fopen(p, "w");
	for (unsigned i = 0; i < AZDS_K8S_CONFIG_MAX / 64 + 2; i++)
		fprintf(f, "# %061u\n", i);
	fclose(f);
	bad("huge.yaml", -EFBIG, "larger than", NULL);

	/* A missing file names itself. */
	struct azds_k8s_config c;
	struct azds_k8s_err e;
	CHECK(azds_k8s_config_load(&c, "/nonexistent/kubeconfig", NULL, &e) == -ENOENT, "missing file");
	CHECK_MSG(&e, "/nonexistent/kubeconfig");
}

static void test_incluster(void)
{
	struct azds_k8s_config c;
	struct azds_k8s_err e;
	char sa[512];
	snprintf(sa, sizeof(sa), "%s/sa", dir);
	mkdir(sa, 0700);
	write_file("sa/token", "eyJhbGciOi.payload.sig\n");
	write_file("sa/ca.crt", "%s", ca_pem);
	write_file("sa/namespace", "azds\n");

	unsetenv("KUBERNETES_SERVICE_HOST");
	CHECK(azds_k8s_config_incluster(&c, sa, &e) == -ENOENT, "no host");
	CHECK_MSG(&e, "KUBERNETES_SERVICE_HOST");

	setenv("KUBERNETES_SERVICE_HOST", "10.203.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	int ret = azds_k8s_config_incluster(&c, sa, &e);
	CHECK(ret == 0, "in-cluster: %s", e.msg);
	if (!ret) {
		CHECK(!strcmp(c.server, "https://10.203.0.1:443"), "server %s", c.server);
		CHECK(c.token && !strcmp(c.token, "eyJhbGciOi.payload.sig"), "token");
		CHECK(!strcmp(c.ns, "azds"), "ns %s", c.ns);
		CHECK(c.ca && !strcmp(c.ca, ca_pem), "ca");
		CHECK(strstr(c.token_file, "sa/token") != NULL, "token_file %s", c.token_file);
		azds_k8s_config_free(&c);
	}
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	ret = azds_k8s_config_incluster(&c, sa, &e);
	CHECK(ret == 0 && !strcmp(c.server, "https://[fd00::1]:443"), "IPv6 host: %s", ret ? e.msg : c.server);
	if (!ret)
		azds_k8s_config_free(&c);
	setenv("KUBERNETES_SERVICE_PORT", "44x", 1);
	CHECK(azds_k8s_config_incluster(&c, sa, &e) == -EINVAL, "bad port");
	CHECK_MSG(&e, "KUBERNETES_SERVICE_PORT");
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);

	/* auto: no path and no $KUBECONFIG, in a pod: in-cluster (from the real path, absent here). */
	unsetenv("KUBECONFIG");
	ret = azds_k8s_config_auto(&c, NULL, NULL, &e);
	CHECK(ret == -ENOENT, "auto in-cluster without the service-account dir: %d %s", ret, e.msg);
	CHECK_MSG(&e, "/var/run/secrets/kubernetes.io/serviceaccount/token");

	write_file("sa/ca.crt", "nonsense\n");
	CHECK(azds_k8s_config_incluster(&c, sa, &e) == -EINVAL, "bad ca");
	CHECK_MSG(&e, "sa/ca.crt: not a PEM certificate bundle");
	write_file("sa/token", "");
	CHECK(azds_k8s_config_incluster(&c, sa, &e) == -EINVAL, "empty token");
	CHECK_MSG(&e, "sa/token: empty");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/azds-k8s-config-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	make_material();
	test_file_forms();
	test_data_forms();
	test_bad();
	test_incluster();
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return kt_done("k8s_config");
}
