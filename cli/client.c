// SPDX-License-Identifier: MIT
/* The API client: libcurl over the instance's unix socket, jansson bodies. */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <curl/curl.h>
#include "client.h"
#include "opts.h"

/* a hung controller must not hang the CLI forever */
#define API_TIMEOUT_S 120
#define CONNECT_TIMEOUT_S 5

static CURL *curl; /* one handle: its connection is kept between calls */
static char curl_msg[CURL_ERROR_SIZE];
/* of the last exchange: the socket refused the connection (connect's
 * errno is the error), and the time it was given */
static bool connect_failed;
static long timeout_s;

const char *api_socket(void)
{
	static char path[160];

	snprintf(path, sizeof(path), "/run/azds/%s/api.sock", cli_instance);
	return path;
}

struct xfer {
	const struct api_req *req;
	struct api_reply *r;
	size_t cap;
	bool write_failed;
};

static int grow(struct api_reply *r, size_t *cap, size_t more)
{
	if (r->len + more + 1 <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 4096;

	while (ncap < r->len + more + 1)
		ncap *= 2;
	char *b = realloc(r->body, ncap);

	if (!b)
		return -ENOMEM;
	r->body = b;
	*cap = ncap;
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	/* a log being followed goes out as it arrives; errors are kept */
	if (x->req->stream && status >= 200 && status < 300) {
		if (fwrite(data, 1, n, x->req->stream) != n || fflush(x->req->stream)) {
			x->write_failed = true;
			return 0;
		}
		x->r->len += n;
		return n;
	}
	if (grow(x->r, &x->cap, n))
		return 0;
	memcpy(x->r->body + x->r->len, data, n);
	x->r->len += n;
	x->r->body[x->r->len] = 0;
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	static const char name[] = "X-Azds-Log-Offset:";
	struct xfer *x = ctx;
	size_t n = size * nmemb;

	if (n > sizeof(name) - 1 && !strncasecmp(data, name, sizeof(name) - 1))
		x->r->offset = strtoll(data + sizeof(name) - 1, NULL, 10);
	return n;
}

/* Ctrl-C ends a long wait (a followed log) between two reads */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ctx, (void)dt, (void)dn, (void)ut, (void)un;
	return cli_interrupted ? 1 : 0;
}

/* connect's errno on the API socket, for when curl does not keep it (a
 * full backlog's EAGAIN); 0 if a connection works now */
static int connect_errno(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(api_socket()) >= sizeof(a.sun_path))
		return ENAMETOOLONG;
	memcpy(a.sun_path, api_socket(), strlen(api_socket()));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	err = connect(fd, (struct sockaddr *)&a, sizeof(a)) ? errno : 0;
	close(fd);
	return err;
}

static int curl_errno(CURLcode c, const struct xfer *x)
{
	long os = 0;

	switch (c) {
	case CURLE_COULDNT_CONNECT:
		connect_failed = true;
		curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os);
		if (!os)
			os = connect_errno();
		/* only a missing socket or nobody listening on it is a controller
		 * that does not run: a full backlog (EAGAIN), a path that is not
		 * a directory and the like are told as they are */
		if (os == EACCES || os == EPERM)
			return -EACCES;
		return os > 0 ? (int)-os : -EIO;
	case CURLE_OPERATION_TIMEDOUT: {
		curl_off_t connected = 0;

		curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connected);
		connect_failed = !connected;
		return -ETIMEDOUT;
	}
	case CURLE_ABORTED_BY_CALLBACK:
		return -EINTR;
	case CURLE_WRITE_ERROR:
		return x->write_failed ? -EPIPE : -ENOMEM;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

static int setup(const struct api_req *req, struct xfer *x, const char *url, const char *body,
		 struct curl_slist **hdrs)
{
	if (!curl) {
		if (curl_global_init(CURL_GLOBAL_NOTHING))
			return -ENOMEM;
		curl = curl_easy_init();
		if (!curl)
			return -ENOMEM;
	} else {
		curl_easy_reset(curl); /* keeps the connection */
	}
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, api_socket());
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	timeout_s = req->timeout_s ? req->timeout_s : (long)API_TIMEOUT_S;
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "azds");
	/* bodies are small: no 100-continue round trip */
	*hdrs = curl_slist_append(NULL, "Expect:");
	if (body)
		*hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
	if (!*hdrs)
		return -ENOMEM;
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *hdrs);
	if (body || !strcmp(req->method, "POST") || !strcmp(req->method, "PUT")) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	if (strcmp(req->method, "GET") && strcmp(req->method, "POST"))
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	return 0;
}

int api_exchange(const struct api_req *req, struct api_reply *r)
{
	struct curl_slist *hdrs = NULL;
	struct xfer x = { .req = req, .r = r };
	char url[1024], *body = NULL;
	CURLcode c;
	int err;

	memset(r, 0, sizeof(*r));
	r->offset = -1;
	curl_msg[0] = 0;
	connect_failed = false;
	if (snprintf(url, sizeof(url), "http://azds%s", req->path) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	if (req->body) {
		body = json_dumps(req->body, JSON_COMPACT);
		if (!body)
			return -ENOMEM;
	}
	err = setup(req, &x, url, body, &hdrs);
	/* a full listen backlog (EAGAIN at connect: nothing was sent, so any
	 * request may go again) is a busy controller, not a missing one: tried
	 * again for up to the connect timeout, 10 ms apart at first, then up
	 * to 200 ms */
	for (long waited_ms = 0, step = 10; !err;) {
		c = curl_easy_perform(curl);
		if (c != CURLE_OK)
			err = curl_errno(c, &x);
		else
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
		if (err != -EAGAIN || waited_ms >= CONNECT_TIMEOUT_S * 1000L || cli_interrupted)
			break;
		usleep((useconds_t)step * 1000);
		waited_ms += step;
		step = step < 200 ? step * 2 : 200;
		err = 0;
	}
	curl_slist_free_all(hdrs);
	free(body);
	if (err)
		api_reply_free(r); /* a partial answer is no answer */
	else if (r->body && r->len && !(req->stream && r->status >= 200 && r->status < 300))
		r->json = json_loadb(r->body, r->len, 0, NULL);
	return err;
}

const char *api_error_text(const struct api_reply *r)
{
	static char buf[320];
	const char *msg = json_string_value(json_object_get(r->json, "error"));

	if (msg)
		return msg;
	snprintf(buf, sizeof(buf), "the controller answered HTTP %ld%s%.*s", r->status, r->len ? ": " : "",
		 r->body ? (int)strcspn(r->body, "\r\n") : 0, r->body ? r->body : "");
	return buf;
}

static const char *socket_group(void)
{
	static char name[64];
	struct stat st;
	struct group *g;

	if (stat(api_socket(), &st))
		return "?";
	g = getgrgid(st.st_gid);
	if (g)
		snprintf(name, sizeof(name), "%s", g->gr_name);
	else
		snprintf(name, sizeof(name), "%u", (unsigned)st.st_gid);
	return name;
}

void api_print_unreachable(int err)
{
	switch (err) {
	case -ENOENT:
	case -ECONNREFUSED:
		fail("the controller of instance \"%s\" is not running; start it with: azds%s controller start",
		     cli_instance, instance_flag());
		return;
	case -EACCES:
		fail("the controller of instance \"%s\": %s: permission denied (join its group \"%s\", or run as root)",
		     cli_instance, api_socket(), socket_group());
		return;
	case -EINTR:
		return;
	case -EPIPE:
		return; /* our reader went away: nothing to tell it */
	}
	if (connect_failed && err == -ETIMEDOUT) {
		fail("the controller's API (%s): no connection within %d s", api_socket(), CONNECT_TIMEOUT_S);
		return;
	}
	if (connect_failed) {
		fail("the controller's API (%s): %s", api_socket(),
		     err == -EIO && curl_msg[0] ? curl_msg : strerror(-err));
		return;
	}
	switch (err) {
	case -ETIMEDOUT:
		fail("the controller of instance \"%s\" did not answer within %ld s (%s)", cli_instance, timeout_s,
		     api_socket());
		break;
	case -ECONNRESET:
		fail("the controller of instance \"%s\" closed the connection without an answer", cli_instance);
		break;
	default:
		fail("the controller of instance \"%s\": %s", cli_instance, curl_msg[0] ? curl_msg : strerror(-err));
	}
}

int api_call(const struct api_req *req, struct api_reply *r)
{
	int err = api_exchange(req, r);

	if (err) {
		api_print_unreachable(err);
		return err;
	}
	if (r->status < 200 || r->status >= 300) {
		fail("%s", api_error_text(r));
		/* the error is told: the caller has nothing to free */
		api_reply_free(r);
		return -EPROTO;
	}
	return 0;
}

int api_get(const char *path, struct api_reply *r)
{
	struct api_req req = { .method = "GET", .path = path };

	return api_call(&req, r);
}

int api_send(const char *method, const char *path, json_t *body, struct api_reply *r)
{
	struct api_req req = { .method = method, .path = path, .body = body };

	return api_call(&req, r);
}

void api_reply_free(struct api_reply *r)
{
	json_decref(r->json);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

char *api_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~/", c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = 0;
	return out;
}

int api_selected_space(char *buf, size_t len)
{
	struct api_reply r;
	const char *s;
	int err = api_get("/v1/selection", &r);

	if (err)
		return err;
	s = json_string_value(json_object_get(r.json, "space"));
	if (!s) {
		api_reply_free(&r);
		fail("the controller's answer to GET /v1/selection has no \"space\"");
		return -EPROTO;
	}
	snprintf(buf, len, "%s", s);
	api_reply_free(&r);
	return 0;
}

int api_space_or_selected(const char *given, char *buf, size_t len)
{
	if (given) {
		snprintf(buf, len, "%s", given);
		return 0;
	}
	return api_selected_space(buf, len);
}

int api_list(const char *what, const char *given, bool all, struct api_reply *r)
{
	char space[300], path[700], *esc;

	if (all) {
		snprintf(path, sizeof(path), "/v1/%s", what);
		return api_get(path, r);
	}
	if (api_space_or_selected(given, space, sizeof(space)))
		return -EPROTO;
	esc = api_escape(space);
	if (!esc)
		return fail("out of memory"), -ENOMEM;
	snprintf(path, sizeof(path), "/v1/%s?space=%s", what, esc);
	free(esc);
	return api_get(path, r);
}

void print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

void api_cleanup(void)
{
	if (curl)
		curl_easy_cleanup(curl);
	curl = NULL;
}

const char *jstr(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

long long jint(const json_t *o, const char *key, long long dflt)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (long long)json_real_value(v);
	return dflt;
}

const char *jtext(const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
	else
		snprintf(buf, len, "-");
	return buf;
}

long long jtime(const json_t *v)
{
	struct tm tm = { 0 };
	const char *s, *end;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (long long)json_real_value(v);
	s = json_string_value(v);
	if (!s || !*s)
		return 0;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return 0;
	/* the offset, if any, is taken as UTC: ages are coarse */
	return (long long)timegm(&tm);
}

const char *jjoin(const json_t *arr, const char *sep, size_t max, char *buf, size_t len)
{
	size_t i, o = 0, n = json_array_size(arr);
	json_t *e;

	buf[0] = 0;
	json_array_foreach(arr, i, e)
	{
		const char *s = json_string_value(e);
		int w;

		if (max && i == max) {
			snprintf(buf + o, len - o, " + %zu more", n - i);
			break;
		}
		w = snprintf(buf + o, len - o, "%s%s", i ? sep : "", s ? s : "?");
		if (w < 0 || (size_t)w >= len - o)
			break;
		o += (size_t)w;
	}
	return buf[0] ? buf : "-";
}

const char *jexit(const json_t *status, char *buf, size_t len)
{
	const json_t *sig = json_object_get(status, "last_signal");
	char s[32];

	if (sig && !json_is_null(sig)) {
		jtext(sig, s, sizeof(s));
		snprintf(buf, len, "%s%s", json_is_integer(sig) ? "signal " : "", s);
		return buf;
	}
	return jtext(json_object_get(status, "last_exit_code"), buf, len);
}

unsigned api_ingress_port(void)
{
	struct api_reply r;
	struct api_req req = { .method = "GET", .path = "/v1/status" };
	unsigned port = 0;
	json_t *in;

	if (api_exchange(&req, &r))
		return 0;
	/* only an ingress that listens: another instance may hold the port */
	in = json_object_get(r.json, "ingress");
	if (r.status == 200 && json_is_true(json_object_get(in, "listening")) &&
	    json_is_integer(json_object_get(in, "port")))
		port = (unsigned)json_integer_value(json_object_get(in, "port"));
	api_reply_free(&r);
	return port;
}

void ingress_host_prefix(const char *space, char *out, size_t len)
{
	const char *slash = strchr(space, '/');
	const char *end = space + strlen(space);
	size_t o = 0;

	out[0] = 0;
	if (slash) {
		/* the labels below the root, most specific first, then "s." */
		while (end > slash) {
			const char *lab = end;

			while (lab > slash + 1 && lab[-1] != '/')
				lab--;
			o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%.*s.", (int)(end - lab), lab);
			end = lab - 1;
		}
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "s.");
	}
	snprintf(out + (o < len ? o : len - 1), o < len ? len - o : 1, "%.*s.",
		 (int)(slash ? slash - space : (long)strlen(space)), space);
}

int api_get_quiet(const char *prefix, const char *name, struct api_reply *r)
{
	char path[1024], *esc = api_escape(name);
	struct api_req req = { .method = "GET", .path = path };

	if (!esc)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s%s", prefix, esc);
	free(esc);
	return api_exchange(&req, r);
}
