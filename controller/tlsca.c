// SPDX-License-Identifier: MIT
/* The webhook's CA and serving certificate: see tlsca.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "tlsca.h"

struct tlsca_pair {
	X509 *crt;
	EVP_PKEY *key;
};

struct tlsca {
	char dir[3072];
	char *dns[TLSCA_NAMES_MAX + 1], *ips[TLSCA_NAMES_MAX + 1];
	long ca_life, cert_life;
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
	struct tlsca_pair ca, prev, srv;
	char *bundle;
	int bundle_n;
	unsigned pending; /* TLSCA_* changes not yet reported (a later step failed) */
};

static void warnf(struct tlsca *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(struct tlsca *t, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t->warn)
		t->warn(t->warn_arg, msg);
	else
		fprintf(stderr, "azds-webhook: warning: %s\n", msg);
}

/* OpenSSL's reason for the last failure, for messages. */
static const char *ssl_why(void)
{
	static __thread char buf[256];
	unsigned long err = ERR_get_error();

	if (!err)
		return "no detail";
	ERR_error_string_n(err, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static void pair_free(struct tlsca_pair *p)
{
	X509_free(p->crt);
	EVP_PKEY_free(p->key);
	p->crt = NULL;
	p->key = NULL;
}

static int fpath(const struct tlsca *t, const char *name, char *buf, size_t len, struct azds_err *e)
{
	int n = snprintf(buf, len, "%s/%s", t->dir, name);

	if (n < 0 || (size_t)n >= len)
		return azds_err(e, ENAMETOOLONG, "webhook state: %s/%s: path too long", t->dir, name);
	return 0;
}

static time_t asn1_time(const ASN1_TIME *a)
{
	struct tm tm;

	if (!a || !ASN1_TIME_to_tm(a, &tm))
		return 0;
	return timegm(&tm);
}

static time_t not_before(X509 *x)
{
	return asn1_time(X509_get0_notBefore(x));
}

static time_t not_after(X509 *x)
{
	return asn1_time(X509_get0_notAfter(x));
}

/* ------------------------------------------------------------ files */

/* Write DATA to DIR/NAME atomically with MODE (temp file, fsync, rename, fsync dir). */
static int write_atomic(const struct tlsca *t, const char *name, const char *data, size_t len, mode_t mode,
			struct azds_err *e)
{
	char path[4096], tmp[4096];
	int fd, err, n;
	size_t off = 0;

	err = fpath(t, name, path, sizeof(path), e);
	if (err)
		return err;
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%d", t->dir, name, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return azds_err(e, ENAMETOOLONG, "webhook state: %s: path too long", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return azds_err(e, errno, "webhook state: %s: %s", tmp, strerror(errno));
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	close(fd);
	if (rename(tmp, path) < 0) {
		err = errno;
		unlink(tmp);
		return azds_err(e, err, "webhook state: rename %s: %s", path, strerror(err));
	}
	fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
fail:
	err = errno;
	close(fd);
	unlink(tmp);
	return azds_err(e, err, "webhook state: %s: %s", tmp, strerror(err));
}

/* The whole of DIR/NAME, bounded; -ENOENT when missing. */
static int read_small(const struct tlsca *t, const char *name, char **out, size_t *len, struct azds_err *e)
{
	char path[4096];
	char *buf;
	size_t n = 0;
	int fd, err;

	err = fpath(t, name, path, sizeof(path), e);
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : azds_err(e, errno, "webhook state: %s: %s", path, strerror(errno));
	buf = malloc(TLSCA_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return azds_err(e, ENOMEM, "webhook state: out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, TLSCA_FILE_MAX + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno;
			close(fd);
			free(buf);
			return azds_err(e, err, "webhook state: %s: %s", path, strerror(err));
		}
		if (r == 0 || (n += (size_t)r) > TLSCA_FILE_MAX)
			break;
	}
	close(fd);
	if (n > TLSCA_FILE_MAX) {
		free(buf);
		return -EFBIG;
	}
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

/* A key and a certificate as one PEM text (the caller frees it). */
static int pair_pem(const struct tlsca_pair *p, char **out, size_t *len, struct azds_err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;

	if (!b)
		return azds_err(e, ENOMEM, "webhook state: out of memory");
	if ((p->key && !PEM_write_bio_PrivateKey(b, p->key, NULL, NULL, 0, NULL, NULL)) ||
	    !PEM_write_bio_X509(b, p->crt)) {
		BIO_free(b);
		return azds_err(e, EIO, "webhook state: PEM: %s", ssl_why());
	}
	n = BIO_get_mem_data(b, &data);
	*out = malloc((size_t)n + 1);
	if (!*out) {
		BIO_free(b);
		return azds_err(e, ENOMEM, "webhook state: out of memory");
	}
	memcpy(*out, data, (size_t)n);
	(*out)[n] = 0;
	*len = (size_t)n;
	BIO_free(b);
	return 0;
}

static int pair_save(const struct tlsca *t, const struct tlsca_pair *p, const char *name, struct azds_err *e)
{
	char *pem;
	size_t len;
	int err = pair_pem(p, &pem, &len, e);

	if (err)
		return err;
	err = write_atomic(t, name, pem, len, 0600, e);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return err;
}

/*
 * Load DIR/NAME into P. Missing: 0 with P empty. Unusable (no key, no
 * certificate, a key of another certificate, not a CA when WANT_CA): a
 * warning, the file is moved aside as NAME.corrupt, and P empty.
 */
static int pair_load(struct tlsca *t, const char *name, bool want_ca, struct tlsca_pair *p, struct azds_err *e)
{
	char *text = NULL;
	size_t len = 0;
	const char *why = NULL;
	BIO *b;
	int err = read_small(t, name, &text, &len, e);

	if (err == -ENOENT)
		return 0;
	if (err == -EFBIG) {
		why = "larger than the bound";
		goto corrupt;
	}
	if (err)
		return err;
	b = BIO_new_mem_buf(text, (int)len);
	if (!b) {
		free(text);
		return azds_err(e, ENOMEM, "webhook state: out of memory");
	}
	p->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	p->crt = p->key ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	OPENSSL_cleanse(text, len);
	free(text);
	ERR_clear_error();
	if (!p->key)
		why = "no private key";
	else if (!p->crt)
		why = "no certificate after the key";
	else if (X509_check_private_key(p->crt, p->key) != 1)
		why = "the key is not the certificate's";
	else if (want_ca && X509_check_ca(p->crt) != 1)
		why = "not a CA certificate";
	else if (!not_before(p->crt) || !not_after(p->crt))
		why = "unreadable validity";
	if (!why)
		return 0;
corrupt:
	pair_free(p);
	ERR_clear_error();
	{
		char from[4096], to[4096 + 16];

		if (!fpath(t, name, from, sizeof(from), e) && snprintf(to, sizeof(to), "%s.corrupt", from) > 0)
			rename(from, to);
		warnf(t, "%s/%s: %s: replaced (the old file kept as %s.corrupt)", t->dir, name, why, name);
	}
	return 0;
}

/* ------------------------------------------------------ certificates */

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (!ext)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static int rand_serial(X509 *x)
{
	unsigned char raw[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return 0;
	raw[0] &= 0x7f; /* positive */
	raw[0] |= 0x01; /* and never 0 */
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	if (!bn)
		return 0;
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

/* "DNS:a,DNS:b,IP:10.0.0.1" from names that tlsca_open checked (no commas). */
static int san_text(const struct tlsca *t, char *buf, size_t len)
{
	size_t off = 0;
	int n;

	buf[0] = 0;
	for (int i = 0; t->dns[i]; i++) {
		n = snprintf(buf + off, len - off, "%sDNS:%s", off ? "," : "", t->dns[i]);
		if (n < 0 || (size_t)n >= len - off)
			return -ENAMETOOLONG;
		off += (size_t)n;
	}
	for (int i = 0; t->ips[i]; i++) {
		n = snprintf(buf + off, len - off, "%sIP:%s", off ? "," : "", t->ips[i]);
		if (n < 0 || (size_t)n >= len - off)
			return -ENAMETOOLONG;
		off += (size_t)n;
	}
	return 0;
}

/*
 * A new key and a certificate for it valid [NB, NA]: a CA (self-signed)
 * when ISSUER is NULL, else a serving certificate ISSUER signs.
 */
static int make_pair(struct tlsca *t, const struct tlsca_pair *issuer, time_t nb, time_t na, struct tlsca_pair *out,
		     struct azds_err *e)
{
	char cn[64], san[TLSCA_NAMES_MAX * 2 * 260];
	X509V3_CTX ctx;
	X509_NAME *name;
	X509 *x = NULL;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	bool ca = !issuer;

	if (!key)
		goto fail;
	x = X509_new();
	if (!x || !X509_set_version(x, 2) || !rand_serial(x) || !X509_set_pubkey(x, key))
		goto fail;
	if (!ASN1_TIME_set(X509_getm_notBefore(x), nb) || !ASN1_TIME_set(X509_getm_notAfter(x), na))
		goto fail;
	/* CAs are told apart by name too, so that two in one bundle never look alike */
	snprintf(cn, sizeof(cn), ca ? "azds webhook CA %lld" : "azds webhook", (long long)nb);
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"azds", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
		goto fail;
	if (!X509_set_issuer_name(x, ca ? name : X509_get_subject_name(issuer->crt)))
		goto fail;
	X509V3_set_ctx(&ctx, ca ? x : issuer->crt, x, NULL, NULL, 0);
	if (ca) {
		if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		    !add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    !add_ext(x, &ctx, NID_subject_key_identifier, "hash"))
			goto fail;
	} else {
		if (san_text(t, san, sizeof(san)) < 0)
			return azds_err(e, ENAMETOOLONG, "webhook certificate: too many names");
		if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
		    !add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
		    !add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") ||
		    !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
		    !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") ||
		    (san[0] && !add_ext(x, &ctx, NID_subject_alt_name, san)))
			goto fail;
	}
	if (!X509_sign(x, ca ? key : issuer->key, EVP_sha256()))
		goto fail;
	out->crt = x;
	out->key = key;
	return 0;
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	return azds_err(e, EIO, "webhook %s: %s", ca ? "CA" : "certificate", ssl_why());
}

/* Does the serving certificate name exactly the configured DNS names and IPs? */
static bool names_match(const struct tlsca *t, X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int want = 0, have, found = 0;

	for (int i = 0; t->dns[i]; i++)
		want++;
	for (int i = 0; t->ips[i]; i++)
		want++;
	if (!gens)
		return want == 0;
	have = sk_GENERAL_NAME_num(gens);
	for (int i = 0; i < have; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int l;

		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			l = ASN1_STRING_length(g->d.dNSName);
			for (int j = 0; t->dns[j]; j++)
				if ((size_t)l == strlen(t->dns[j]) && !memcmp(d, t->dns[j], (size_t)l)) {
					found++;
					break;
				}
		} else if (g->type == GEN_IPADD) {
			unsigned char a[16];

			d = ASN1_STRING_get0_data(g->d.iPAddress);
			l = ASN1_STRING_length(g->d.iPAddress);
			for (int j = 0; t->ips[j]; j++) {
				int al = strchr(t->ips[j], ':') ? 16 : 4;

				if (l == al && inet_pton(al == 16 ? AF_INET6 : AF_INET, t->ips[j], a) == 1 &&
				    !memcmp(a, d, (size_t)al)) {
					found++;
					break;
				}
			}
		}
	}
	GENERAL_NAMES_free(gens);
	return have == want && found == want;
}

static bool issued_by(const struct tlsca_pair *ca, X509 *x)
{
	EVP_PKEY *pub;

	if (!ca->crt || X509_check_issued(ca->crt, x) != X509_V_OK)
		return false;
	pub = X509_get0_pubkey(ca->crt);
	return pub && X509_verify(x, pub) == 1;
}

/*
 * A third of its life left or less (or not valid now)? "Or less": with
 * whole seconds and the few-second lives of tests, "less than" would
 * only hold in the last second, when clients already see it expire.
 */
static bool due(X509 *x, time_t now)
{
	time_t nb = not_before(x), na = not_after(x);

	return now < nb || now >= na || (na - now) * 3 <= (na - nb);
}

/* ------------------------------------------------------------ bundle */

static int bundle_build(struct tlsca *t, struct azds_err *e)
{
	char *a = NULL, *b = NULL, *all;
	size_t la = 0, lb = 0;
	struct tlsca_pair pub = {t->ca.crt, NULL}, prev = {t->prev.crt, NULL};
	int err = pair_pem(&pub, &a, &la, e);

	if (!err && t->prev.crt)
		err = pair_pem(&prev, &b, &lb, e);
	if (err) {
		free(a);
		return err;
	}
	all = malloc(la + lb + 1);
	if (!all) {
		free(a);
		free(b);
		return azds_err(e, ENOMEM, "webhook state: out of memory");
	}
	memcpy(all, a, la);
	if (b)
		memcpy(all + la, b, lb);
	all[la + lb] = 0;
	free(a);
	free(b);
	err = write_atomic(t, "ca-bundle.pem", all, la + lb, 0644, e);
	if (err) {
		free(all);
		return err;
	}
	free(t->bundle);
	t->bundle = all;
	t->bundle_n = t->prev.crt ? 2 : 1;
	return 0;
}

/* ----------------------------------------------------------- rotation */

static int rotate_ca(struct tlsca *t, time_t now, unsigned *changed, struct azds_err *e)
{
	char from[4096], to[4096];
	int err;

	if (t->prev.crt && now >= not_after(t->prev.crt)) {
		/* expired: nothing it signed can verify any more */
		pair_free(&t->prev);
		if (!fpath(t, "ca-prev.pem", from, sizeof(from), e))
			unlink(from);
		*changed |= TLSCA_CA_CHANGED;
	}
	if (t->ca.crt && !due(t->ca.crt, now))
		return 0;
	if (t->ca.crt) {
		/* the rename is the commit: a crash after it makes a new CA on the next start */
		err = fpath(t, "ca.pem", from, sizeof(from), e);
		if (!err)
			err = fpath(t, "ca-prev.pem", to, sizeof(to), e);
		if (err)
			return err;
		if (rename(from, to) < 0)
			return azds_err(e, errno, "webhook state: rename %s: %s", from, strerror(errno));
		pair_free(&t->prev);
		t->prev = t->ca;
		t->ca = (struct tlsca_pair){0};
		if (now >= not_after(t->prev.crt)) {
			pair_free(&t->prev);
			unlink(to);
		}
	}
	err = make_pair(t, NULL, now, now + t->ca_life, &t->ca, e);
	if (!err)
		err = pair_save(t, &t->ca, "ca.pem", e);
	if (err)
		return err;
	*changed |= TLSCA_CA_CHANGED;
	return 0;
}

/* The CA that should sign the serving certificate now (see tlsca.h). */
static const struct tlsca_pair *wanted_issuer(const struct tlsca *t, time_t now)
{
	time_t nb = not_before(t->ca.crt), na = not_after(t->ca.crt);

	if (t->prev.crt && t->prev.key && (now - nb) * 6 < (na - nb) && now < not_after(t->prev.crt))
		return &t->prev;
	return &t->ca;
}

static int rotate_cert(struct tlsca *t, time_t now, unsigned *changed, struct azds_err *e)
{
	const struct tlsca_pair *iss = wanted_issuer(t, now);
	struct tlsca_pair n = {0};
	time_t na = now + t->cert_life;
	int err;

	if (t->srv.crt && issued_by(iss, t->srv.crt) && !due(t->srv.crt, now) && names_match(t, t->srv.crt))
		return 0;
	/* never past the issuer's own end */
	if (na > not_after(iss->crt))
		na = not_after(iss->crt);
	err = make_pair(t, iss, now, na, &n, e);
	if (!err)
		err = pair_save(t, &n, "serving.pem", e);
	if (err) {
		pair_free(&n);
		return err;
	}
	pair_free(&t->srv);
	t->srv = n;
	*changed |= TLSCA_CERT_CHANGED;
	return 0;
}

int tlsca_maintain(struct tlsca *t, time_t now, unsigned *changed, struct azds_err *e)
{
	/* changes made before a failure are kept and reported by the next call that succeeds */
	int err = rotate_ca(t, now, &t->pending, e);

	if (!err)
		err = rotate_cert(t, now, &t->pending, e);
	if (!err && ((t->pending & TLSCA_CA_CHANGED) || !t->bundle))
		err = bundle_build(t, e);
	if (changed)
		*changed = err ? 0 : t->pending;
	if (!err)
		t->pending = 0;
	return err;
}

/* ------------------------------------------------------------- setup */

static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '.' || (s[i] == '*' && i == 0)))
			return false;
	return true;
}

static int copy_names(char **dst, const char *const *src, bool ip, struct azds_err *e)
{
	int n = 0;

	for (; src && src[n]; n++) {
		unsigned char a[16];

		if (n == TLSCA_NAMES_MAX)
			return azds_err(e, E2BIG, "webhook certificate: more than %d %s", TLSCA_NAMES_MAX,
					ip ? "IPs" : "DNS names");
		if (ip ? (inet_pton(AF_INET, src[n], a) != 1 && inet_pton(AF_INET6, src[n], a) != 1)
		       : !dns_name_ok(src[n]))
			return azds_err(e, EINVAL, "webhook certificate: \"%.64s\" is not %s", src[n],
					ip ? "an IP address" : "a DNS name");
		dst[n] = strdup(src[n]);
		if (!dst[n])
			return azds_err(e, ENOMEM, "out of memory");
	}
	dst[n] = NULL;
	return 0;
}

int tlsca_open(struct tlsca **out, const struct tlsca_opts *o, struct azds_err *e)
{
	struct tlsca *t;
	int err, n;

	*out = NULL;
	if (!o->dir || !o->dir[0])
		return azds_err(e, EINVAL, "webhook: no state directory");
	if ((o->ca_life_s && o->ca_life_s < TLSCA_LIFE_MIN) || (o->cert_life_s && o->cert_life_s < TLSCA_LIFE_MIN) ||
	    o->ca_life_s < 0 || o->cert_life_s < 0)
		return azds_err(e, EINVAL, "webhook: certificate lives must be at least %d s", TLSCA_LIFE_MIN);
	t = calloc(1, sizeof(*t));
	if (!t)
		return azds_err(e, ENOMEM, "out of memory");
	n = snprintf(t->dir, sizeof(t->dir), "%s", o->dir);
	if (n < 0 || (size_t)n >= sizeof(t->dir)) {
		free(t);
		return azds_err(e, ENAMETOOLONG, "webhook: state directory: path too long");
	}
	t->ca_life = o->ca_life_s ? o->ca_life_s : TLSCA_CA_LIFE;
	t->cert_life = o->cert_life_s ? o->cert_life_s : TLSCA_CERT_LIFE;
	t->warn = o->warn;
	t->warn_arg = o->warn_arg;
	err = copy_names(t->dns, o->dns, false, e);
	if (!err)
		err = copy_names(t->ips, o->ips, true, e);
	if (err)
		goto fail;
	if (mkdir(t->dir, 0700) < 0 && errno != EEXIST) {
		err = azds_err(e, errno, "webhook: state directory %s: %s", t->dir, strerror(errno));
		goto fail;
	}
	err = pair_load(t, "ca.pem", true, &t->ca, e);
	if (!err)
		err = pair_load(t, "ca-prev.pem", true, &t->prev, e);
	if (!err)
		err = pair_load(t, "serving.pem", false, &t->srv, e);
	if (!err)
		err = tlsca_maintain(t, time(NULL), NULL, e);
	if (err)
		goto fail;
	*out = t;
	return 0;
fail:
	tlsca_free(t);
	return err;
}

int tlsca_ssl_ctx(struct tlsca *t, SSL_CTX **out, struct azds_err *e)
{
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());

	if (!c)
		return azds_err(e, ENOMEM, "webhook TLS: %s", ssl_why());
	if (!SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) || SSL_CTX_use_certificate(c, t->srv.crt) != 1 ||
	    SSL_CTX_use_PrivateKey(c, t->srv.key) != 1 || SSL_CTX_check_private_key(c) != 1) {
		SSL_CTX_free(c);
		return azds_err(e, EIO, "webhook TLS: %s", ssl_why());
	}
	/* one exchange per connection: no session cache to grow */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	*out = c;
	return 0;
}

const char *tlsca_bundle(const struct tlsca *t)
{
	return t->bundle;
}

int tlsca_bundle_count(const struct tlsca *t)
{
	return t->bundle_n;
}

void tlsca_free(struct tlsca *t)
{
	if (!t)
		return;
	pair_free(&t->ca);
	pair_free(&t->prev);
	pair_free(&t->srv);
	for (int i = 0; t->dns[i]; i++)
		free(t->dns[i]);
	for (int i = 0; t->ips[i]; i++)
		free(t->ips[i]);
	free(t->bundle);
	free(t);
}
