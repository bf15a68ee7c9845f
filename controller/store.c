// SPDX-License-Identifier: MIT
/*
 * The controller's durable store over SQLite. The schema, the pragmas and
 * how to add a migration are in docs/store.md; the contract is store.h.
 *
 * Shape of the code: every SQL text lives in one table (queries[]) and is
 * prepared once, on first use, and kept; a function takes its statement
 * with q_take() and gives it back with q_give(). A statement still in use
 * (a callback of an _each walk calling back into the store) is never
 * shared: q_take() prepares a private copy instead, so walks nest.
 * Writes made of several statements run inside a savepoint (inside the
 * caller's transaction) or their own BEGIN IMMEDIATE (outside one), so a
 * failure half way leaves nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* PRAGMA application_id: "azds". A database without it is not ours. */
#define STORE_APP_ID 0x617a6473
#define STORE_BUSY_MS 5000
#define STORE_DB_NAME "state.db"
#define ST_UID_MAX 0xfffffffeu /* (uid_t)-1 means "no change" to the kernel */

/* ------------------------------------------------------------------ */
/* Schema                                                              */
/* ------------------------------------------------------------------ */

/*
 * Migration 1: everything. Cascades follow ownership: a space owns its
 * labels, a pod its service list, arguments and status, and a selection
 * is only a pointer. Services and pods are not owned by the store's
 * space_remove: they hold allocations (VIPs, uids, addresses) and running
 * processes the controller must take down first, so deleting a space that
 * still has any is refused (RESTRICT) rather than silently dropping them.
 */
static const char schema_v1[] =
	"CREATE TABLE spaces ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" path TEXT NOT NULL UNIQUE CHECK (length(path) > 0),"
	" parent TEXT REFERENCES spaces(path) ON DELETE RESTRICT,"
	" depth INTEGER NOT NULL CHECK (depth >= 0),"
	" created INTEGER NOT NULL);"
	"CREATE INDEX spaces_parent ON spaces(parent);"
	"CREATE TABLE space_labels ("
	" space TEXT NOT NULL REFERENCES spaces(path) ON DELETE CASCADE,"
	" key TEXT NOT NULL,"
	" value TEXT NOT NULL,"
	" PRIMARY KEY (space, key)) WITHOUT ROWID;"
	"CREATE TABLE services ("
	" space TEXT NOT NULL REFERENCES spaces(path) ON DELETE RESTRICT,"
	" name TEXT NOT NULL,"
	" kind INTEGER NOT NULL CHECK (kind IN (1, 2)),"
	" port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
	" target_port INTEGER NOT NULL CHECK (target_port BETWEEN 1 AND 65535),"
	" created INTEGER NOT NULL,"
	" PRIMARY KEY (space, name)) WITHOUT ROWID;"
	/* A VIP belongs to a name, shared by its copies in every space.
	 * refs counts the copies (kept by the triggers), so the row goes
	 * with the last copy and no index on services(name) is needed: such
	 * an index spreads each space's commit over one leaf per name. */
	"CREATE TABLE service_names ("
	" name TEXT NOT NULL PRIMARY KEY,"
	" vip INTEGER NOT NULL DEFAULT 0 CHECK (vip BETWEEN 0 AND 4294967295),"
	" refs INTEGER NOT NULL CHECK (refs > 0)) WITHOUT ROWID;"
	"CREATE UNIQUE INDEX service_names_vip ON service_names(vip) WHERE vip != 0;"
	"CREATE TRIGGER services_ref AFTER INSERT ON services BEGIN"
	" INSERT INTO service_names (name, refs) VALUES (new.name, 1)"
	" ON CONFLICT (name) DO UPDATE SET refs = refs + 1; END;"
	"CREATE TRIGGER services_unref AFTER DELETE ON services BEGIN"
	" DELETE FROM service_names WHERE name = old.name AND refs = 1;"
	" UPDATE service_names SET refs = refs - 1 WHERE name = old.name; END;"
	"CREATE TRIGGER services_no_rename BEFORE UPDATE OF space, name ON services BEGIN"
	" SELECT RAISE(ABORT, 'a service keeps its space and name'); END;"
	"CREATE TABLE pods ("
	" name TEXT NOT NULL PRIMARY KEY,"
	" space TEXT NOT NULL REFERENCES spaces(path) ON DELETE RESTRICT,"
	" workdir TEXT NOT NULL DEFAULT '',"
	" restart INTEGER NOT NULL CHECK (restart IN (0, 1, 2)),"
	" memory_bytes INTEGER NOT NULL CHECK (memory_bytes >= 0),"
	" pids INTEGER NOT NULL CHECK (pids >= 0),"
	" cpu_millis INTEGER NOT NULL CHECK (cpu_millis >= 0),"
	" uid INTEGER NOT NULL UNIQUE CHECK (uid BETWEEN 0 AND 4294967294),"
	" addr INTEGER NOT NULL DEFAULT 0 CHECK (addr BETWEEN 0 AND 4294967295),"
	" created INTEGER NOT NULL);"
	"CREATE INDEX pods_space ON pods(space, name);"
	"CREATE UNIQUE INDEX pods_addr ON pods(addr) WHERE addr != 0;"
	"CREATE TABLE pod_services ("
	" pod TEXT NOT NULL REFERENCES pods(name) ON DELETE CASCADE,"
	" service TEXT NOT NULL,"
	" idx INTEGER NOT NULL,"
	" PRIMARY KEY (pod, service)) WITHOUT ROWID;"
	"CREATE TABLE pod_args ("
	" pod TEXT NOT NULL REFERENCES pods(name) ON DELETE CASCADE,"
	" list INTEGER NOT NULL CHECK (list IN (0, 1)),"
	" idx INTEGER NOT NULL,"
	" value TEXT NOT NULL,"
	" PRIMARY KEY (pod, list, idx)) WITHOUT ROWID;"
	"CREATE TABLE pod_status ("
	" pod TEXT NOT NULL PRIMARY KEY REFERENCES pods(name) ON DELETE CASCADE,"
	" phase INTEGER NOT NULL CHECK (phase BETWEEN 0 AND 5),"
	" pid INTEGER NOT NULL DEFAULT 0,"
	" restarts INTEGER NOT NULL DEFAULT 0,"
	" last_exit_code INTEGER NOT NULL DEFAULT -1,"
	" last_signal INTEGER NOT NULL DEFAULT 0,"
	" started INTEGER NOT NULL DEFAULT 0,"
	" finished INTEGER NOT NULL DEFAULT 0,"
	" reason TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
	"CREATE TABLE selections ("
	" uid INTEGER PRIMARY KEY CHECK (uid BETWEEN 0 AND 4294967295),"
	" space TEXT NOT NULL REFERENCES spaces(path) ON DELETE CASCADE);"
	"CREATE INDEX selections_space ON selections(space);"
	"CREATE TABLE settings ("
	" key TEXT NOT NULL PRIMARY KEY,"
	" value TEXT NOT NULL) WITHOUT ROWID;";

/*
 * The ordered migration steps: step i brings user_version from i to i+1.
 * Append, never edit a released step (docs/store.md, "Migrations").
 */
/* v2: where a pod's workdir appears inside it ('' = /workspace) */
static const char schema_v2[] = "ALTER TABLE pods ADD COLUMN mount TEXT NOT NULL DEFAULT '';";

static const struct migration {
	const char *what;
	const char *sql;
} migrations[] = {
	{ "create the schema", schema_v1 },
	{ "pods: mount", schema_v2 },
};
_Static_assert(ARRAY_SIZE(migrations) == STORE_SCHEMA_VERSION, "one migration step per schema version");

/* ------------------------------------------------------------------ */
/* Statements                                                          */
/* ------------------------------------------------------------------ */

enum qid {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_SAVEPOINT,
	Q_RELEASE,
	Q_ROLLBACK_TO,
	Q_SPACE_INSERT,
	Q_LABEL_INSERT,
	Q_SPACE_GET,
	Q_SPACE_LABELS,
	Q_SPACE_USAGE,
	Q_SPACE_DELETE,
	Q_SPACE_EACH,
	Q_SPACE_COUNT,
	Q_SPACE_CHILDREN,
	Q_SERVICE_PUT,
	Q_SERVICE_GET,
	Q_SERVICE_DELETE,
	Q_SERVICE_SET_VIP,
	Q_SERVICE_BY_VIP,
	Q_SERVICE_EACH,
	Q_SERVICE_EACH_SPACE,
	Q_SERVICE_COUNT,
	Q_POD_FREE_UID,
	Q_POD_INSERT,
	Q_POD_SERVICE_INSERT,
	Q_POD_ARG_INSERT,
	Q_POD_STATUS_INSERT,
	Q_POD_GET,
	Q_POD_SERVICES,
	Q_POD_ARGS,
	Q_POD_DELETE,
	Q_POD_SET_ADDR,
	Q_POD_BY_ADDR,
	Q_POD_SET_STATUS,
	Q_POD_EACH,
	Q_POD_EACH_SPACE,
	Q_POD_COUNT,
	Q_SELECTION_SET,
	Q_SELECTION_GET,
	Q_SELECTION_CLEAR,
	Q_SETTING_SET,
	Q_SETTING_GET,
	Q_SETTING_DELETE,
	Q_SETTING_EACH,
	Q_COUNT
};

#define POD_COLUMNS                                                                                        \
	"SELECT p.name, p.space, p.workdir, p.restart, p.memory_bytes, p.pids, p.cpu_millis, p.uid, p.addr," \
	" p.created, t.phase, t.pid, t.restarts, t.last_exit_code, t.last_signal, t.started, t.finished,"  \
	" t.reason, p.mount FROM pods p LEFT JOIN pod_status t ON t.pod = p.name "
#define SERVICE_COLUMNS                                                                 \
	"SELECT s.space, s.name, s.kind, s.port, s.target_port, n.vip, s.created FROM services s" \
	" JOIN service_names n ON n.name = s.name "

static const char *const queries[Q_COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_SAVEPOINT] = "SAVEPOINT store_write",
	[Q_RELEASE] = "RELEASE store_write",
	[Q_ROLLBACK_TO] = "ROLLBACK TO store_write",
	[Q_SPACE_INSERT] = "INSERT INTO spaces (path, parent, depth, created) VALUES (?1, ?2, ?3, ?4)",
	[Q_LABEL_INSERT] = "INSERT INTO space_labels (space, key, value) VALUES (?1, ?2, ?3)",
	[Q_SPACE_GET] = "SELECT id, path, coalesce(parent, ''), created FROM spaces WHERE path = ?1",
	[Q_SPACE_LABELS] = "SELECT key, value FROM space_labels WHERE space = ?1 ORDER BY key",
	[Q_SPACE_USAGE] = "SELECT EXISTS (SELECT 1 FROM spaces WHERE path = ?1),"
			  " (SELECT count(*) FROM spaces WHERE parent = ?1),"
			  " (SELECT count(*) FROM services WHERE space = ?1),"
			  " (SELECT count(*) FROM pods WHERE space = ?1)",
	[Q_SPACE_DELETE] = "DELETE FROM spaces WHERE path = ?1",
	[Q_SPACE_EACH] = "SELECT id, path, coalesce(parent, ''), created FROM spaces ORDER BY depth, path",
	[Q_SPACE_COUNT] = "SELECT count(*) FROM spaces",
	[Q_SPACE_CHILDREN] = "SELECT EXISTS (SELECT 1 FROM spaces WHERE path = ?1),"
			     " (SELECT count(*) FROM spaces WHERE parent = ?1)",
	/* The upsert keeps created; the VIP is the name's (service_names). */
	[Q_SERVICE_PUT] = "INSERT INTO services (space, name, kind, port, target_port, created)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
			  " ON CONFLICT (space, name) DO UPDATE SET kind = excluded.kind, port = excluded.port,"
			  " target_port = excluded.target_port",
	[Q_SERVICE_GET] = SERVICE_COLUMNS "WHERE s.space = ?1 AND s.name = ?2",
	[Q_SERVICE_DELETE] = "DELETE FROM services WHERE space = ?1 AND name = ?2",
	[Q_SERVICE_SET_VIP] = "UPDATE service_names SET vip = ?2 WHERE name = ?1",
	[Q_SERVICE_BY_VIP] = "SELECT name FROM service_names WHERE vip = ?1",
	[Q_SERVICE_EACH] = SERVICE_COLUMNS "ORDER BY s.space, s.name",
	[Q_SERVICE_EACH_SPACE] = SERVICE_COLUMNS "WHERE s.space = ?1 ORDER BY s.name",
	[Q_SERVICE_COUNT] = "SELECT count(*) FROM services",
	/* The lowest uid >= ?1 no pod holds: ?1 itself, or one past the
	 * first held uid whose successor is free (walks the uid index). */
	[Q_POD_FREE_UID] = "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pods WHERE uid = ?1) THEN ?1 ELSE"
			   " (SELECT a.uid + 1 FROM pods a WHERE a.uid >= ?1 AND NOT EXISTS"
			   " (SELECT 1 FROM pods b WHERE b.uid = a.uid + 1) ORDER BY a.uid LIMIT 1) END",
	[Q_POD_INSERT] = "INSERT INTO pods (name, space, workdir, restart, memory_bytes, pids, cpu_millis, uid,"
			 " addr, created, mount) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[Q_POD_SERVICE_INSERT] = "INSERT INTO pod_services (pod, service, idx) VALUES (?1, ?2, ?3)",
	[Q_POD_ARG_INSERT] = "INSERT INTO pod_args (pod, list, idx, value) VALUES (?1, ?2, ?3, ?4)",
	[Q_POD_STATUS_INSERT] = "INSERT INTO pod_status (pod, phase) VALUES (?1, 0)",
	[Q_POD_GET] = POD_COLUMNS "WHERE p.name = ?1",
	[Q_POD_SERVICES] = "SELECT service FROM pod_services WHERE pod = ?1 ORDER BY idx",
	[Q_POD_ARGS] = "SELECT list, value FROM pod_args WHERE pod = ?1 ORDER BY list, idx",
	[Q_POD_DELETE] = "DELETE FROM pods WHERE name = ?1",
	[Q_POD_SET_ADDR] = "UPDATE pods SET addr = ?2 WHERE name = ?1",
	[Q_POD_BY_ADDR] = "SELECT name FROM pods WHERE addr = ?1",
	[Q_POD_SET_STATUS] = "UPDATE pod_status SET phase = ?2, pid = ?3, restarts = ?4, last_exit_code = ?5,"
			     " last_signal = ?6, started = ?7, finished = ?8, reason = ?9 WHERE pod = ?1",
	[Q_POD_EACH] = POD_COLUMNS "ORDER BY p.space, p.name",
	[Q_POD_EACH_SPACE] = POD_COLUMNS "WHERE p.space = ?1 ORDER BY p.name",
	[Q_POD_COUNT] = "SELECT count(*) FROM pods",
	[Q_SELECTION_SET] = "INSERT INTO selections (uid, space) VALUES (?1, ?2)"
			    " ON CONFLICT (uid) DO UPDATE SET space = excluded.space",
	[Q_SELECTION_GET] = "SELECT space FROM selections WHERE uid = ?1",
	[Q_SELECTION_CLEAR] = "DELETE FROM selections WHERE space = ?1",
	[Q_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2)"
			  " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[Q_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
	[Q_SETTING_DELETE] = "DELETE FROM settings WHERE key = ?1",
	[Q_SETTING_EACH] = "SELECT key, value FROM settings ORDER BY key",
};

struct store {
	sqlite3 *db;
	bool in_txn; /* between store_begin and store_commit/rollback */
	sqlite3_stmt *stmt[Q_COUNT];
	bool busy[Q_COUNT]; /* stmt[i] is being stepped by a caller up the stack */
	int64_t changes;    /* rows changed by the last q_step */
	char err[768];
};

/* Why the last store_open of this thread failed (there is no store then). */
static __thread char open_err[768];

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int errf(struct store *s, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return err;
}

static int errno_of(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return -ENOENT;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return -EINVAL;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CONSTRAINT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* "<what>: <SQLite's message>", with rc mapped to an errno. */
__attribute__((format(printf, 3, 4))) static int sqlerr(struct store *s, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(s->err))
		snprintf(s->err + n, sizeof(s->err) - n, ": %s", sqlite3_errmsg(s->db));
	return errno_of(rc);
}

/* Bounded strings: a name is 1..max-1 bytes; "" is allowed only if empty_ok. */
static int check_str(struct store *s, const char *what, const char *v, size_t max, bool empty_ok)
{
	size_t n;

	if (!v)
		return errf(s, -EINVAL, "%s: missing", what);
	n = strnlen(v, max);
	if (n == max)
		return errf(s, -ENAMETOOLONG, "%s \"%.40s...\": longer than %zu bytes", what, v, max - 1);
	if (n == 0 && !empty_ok)
		return errf(s, -EINVAL, "%s: empty", what);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Statement cache                                                     */
/* ------------------------------------------------------------------ */

static sqlite3_stmt *q_take(struct store *s, enum qid id)
{
	sqlite3_stmt *q = NULL;
	int rc;

	if (s->stmt[id] && !s->busy[id]) {
		s->busy[id] = true;
		return s->stmt[id];
	}
	rc = sqlite3_prepare_v3(s->db, queries[id], -1, s->stmt[id] ? 0 : SQLITE_PREPARE_PERSISTENT, &q, NULL);
	if (rc != SQLITE_OK) {
		sqlerr(s, rc, "preparing \"%.60s\"", queries[id]);
		return NULL;
	}
	if (!s->stmt[id]) {
		s->stmt[id] = q;
		s->busy[id] = true;
	}
	return q;
}

static void q_give(struct store *s, enum qid id, sqlite3_stmt *q)
{
	if (!q)
		return;
	if (q == s->stmt[id]) {
		sqlite3_reset(q);
		s->busy[id] = false;
	} else {
		sqlite3_finalize(q);
	}
}

/* Binds text that outlives the step (SQLITE_STATIC: no copy). */
static void bind_str(sqlite3_stmt *q, int i, const char *v)
{
	sqlite3_bind_text(q, i, v, -1, SQLITE_STATIC);
}

/* Copies a text column into a bounded buffer; a stored value that does
 * not fit never came from this code: the file was edited or damaged. */
static int col_str(struct store *s, sqlite3_stmt *q, int col, char *dst, size_t size, const char *what)
{
	const unsigned char *t = sqlite3_column_text(q, col);
	int n = sqlite3_column_bytes(q, col);

	if (!t) {
		dst[0] = '\0';
		return 0;
	}
	if ((size_t)n >= size)
		return errf(s, -EUCLEAN, "%s: stored value of %d bytes exceeds %zu (database edited or damaged?)",
			    what, n, size - 1);
	memcpy(dst, t, n);
	dst[n] = '\0';
	return 0;
}

/* Steps a statement without result rows, gives it back and returns
 * SQLite's code; s->changes is the number of rows it changed. */
static int q_step(struct store *s, enum qid id, sqlite3_stmt *q)
{
	int rc = sqlite3_step(q);

	s->changes = rc == SQLITE_DONE ? sqlite3_changes64(s->db) : 0;
	q_give(s, id, q);
	return rc;
}

/* Runs a statement without result rows (a write, BEGIN, COMMIT ...). */
static int q_exec(struct store *s, enum qid id)
{
	sqlite3_stmt *q = q_take(s, id);
	int rc;

	if (!q)
		return -EIO;
	rc = sqlite3_step(q);
	q_give(s, id, q);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "%s", queries[id]);
	return 0;
}

/* One-row count queries ("SELECT count(*) ..."). */
static int q_count(struct store *s, enum qid id, const char *what, int64_t *n)
{
	sqlite3_stmt *q = q_take(s, id);
	int rc;

	if (!q)
		return -EIO;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int64(q, 0);
	q_give(s, id, q);
	if (rc != SQLITE_ROW)
		return sqlerr(s, rc, "counting %s", what);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

/*
 * Some failures (I/O, disk full, out of memory) make SQLite roll the
 * whole transaction back by itself. Writes after that would each commit
 * on their own, so they are refused until the caller ends the transaction.
 */
static int txn_alive(struct store *s)
{
	if (s->in_txn && sqlite3_get_autocommit(s->db))
		return errf(s, -ECANCELED,
			    "the open transaction was rolled back after an earlier error; nothing of it is stored");
	return 0;
}

/* Opens the scope of a write made of several statements. */
static int wbegin(struct store *s)
{
	int err = txn_alive(s);

	if (err)
		return err;
	return q_exec(s, s->in_txn ? Q_SAVEPOINT : Q_BEGIN);
}

/* Closes it: keeps the write if err is 0, undoes it otherwise; returns
 * err, or the commit's error. The first error's message is kept. */
static int wend(struct store *s, int err)
{
	bool open = !sqlite3_get_autocommit(s->db);
	char keep[sizeof(s->err)];

	if (!err) {
		err = q_exec(s, s->in_txn ? Q_RELEASE : Q_COMMIT);
		if (!err)
			return 0;
		open = !sqlite3_get_autocommit(s->db);
	}
	if (!open)
		return err;
	memcpy(keep, s->err, sizeof(keep));
	if (s->in_txn) {
		q_exec(s, Q_ROLLBACK_TO);
		q_exec(s, Q_RELEASE);
	} else {
		q_exec(s, Q_ROLLBACK);
	}
	memcpy(s->err, keep, sizeof(keep));
	return err;
}

int store_begin(struct store *s)
{
	int err;

	if (s->in_txn)
		return errf(s, -EBUSY, "store_begin: a transaction is already open");
	err = q_exec(s, Q_BEGIN);
	if (err)
		return err;
	s->in_txn = true;
	return 0;
}

int store_commit(struct store *s)
{
	int err;

	if (!s->in_txn)
		return errf(s, -EINVAL, "store_commit: no transaction is open");
	s->in_txn = false;
	if (sqlite3_get_autocommit(s->db))
		return errf(s, -ECANCELED, "store_commit: the transaction was rolled back after an earlier error");
	err = q_exec(s, Q_COMMIT);
	if (err && !sqlite3_get_autocommit(s->db)) {
		char keep[sizeof(s->err)];

		/* Not acknowledged, so not kept either: no half-open state. */
		memcpy(keep, s->err, sizeof(keep));
		q_exec(s, Q_ROLLBACK);
		memcpy(s->err, keep, sizeof(keep));
	}
	return err;
}

void store_rollback(struct store *s)
{
	s->in_txn = false;
	if (!sqlite3_get_autocommit(s->db))
		q_exec(s, Q_ROLLBACK);
}

/* ------------------------------------------------------------------ */
/* Open, migrate, close                                                */
/* ------------------------------------------------------------------ */

/* mkdir -p with mode 0700 for every directory it creates. */
static int mkdir_p(struct store *s, const char *dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);
	struct stat sb;

	if (n >= sizeof(buf))
		return errf(s, -ENAMETOOLONG, "state directory \"%.60s...\": path too long", dir);
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return errf(s, -errno, "state directory: creating %s: %s", buf, strerror(errno));
		*p = c;
		if (!c)
			break;
		while (p[1] == '/')
			p++;
	}
	if (stat(dir, &sb) < 0)
		return errf(s, -errno, "state directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return errf(s, -ENOTDIR, "state directory %s: not a directory", dir);
	return 0;
}

/* The new database file and its directory entry reach the disk before
 * the first commit can be acknowledged. */
static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int pragma_int(struct store *s, const char *sql, int64_t *v)
{
	sqlite3_stmt *q;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL);

	if (rc != SQLITE_OK)
		return sqlerr(s, rc, "%s", sql);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW)
		return sqlerr(s, rc, "%s", sql);
	return 0;
}

static int exec_sql(struct store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sqlerr(s, rc, "%s", what);
	return 0;
}

/* Refuses a file that is not ours, or is from a newer build. */
static int check_identity(struct store *s, const char *path, int64_t *version)
{
	int64_t app, nobj;
	int err;

	err = pragma_int(s, "PRAGMA application_id", &app);
	if (!err)
		err = pragma_int(s, "PRAGMA user_version", version);
	if (!err)
		err = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &nobj);
	if (err)
		return err;
	if (app == 0 && *version == 0 && nobj == 0)
		return 0; /* new */
	if (app != STORE_APP_ID)
		return errf(s, -EUCLEAN, "%s: not an azds state database (application_id 0x%llx)", path,
			    (unsigned long long)app);
	if (*version > STORE_SCHEMA_VERSION)
		return errf(s, -EPROTO,
			    "%s: schema version %lld is newer than this build knows (%d): it was written by a newer "
			    "azds-controller",
			    path, (long long)*version, STORE_SCHEMA_VERSION);
	if (*version < 1)
		return errf(s, -EUCLEAN, "%s: schema version %lld is invalid", path, (long long)*version);
	return 0;
}

/* One step, in its own transaction, with foreign keys off (so a step may
 * rebuild a table) and checked before the commit instead. */
static int migrate_step(struct store *s, const char *path, int to)
{
	const struct migration *m = &migrations[to - 1];
	char sql[96];
	int64_t v, bad = 0;
	int err;

	err = exec_sql(s, "BEGIN IMMEDIATE", "migration: BEGIN");
	if (err)
		return err;
	/* Another process may have migrated since we looked. */
	err = pragma_int(s, "PRAGMA user_version", &v);
	if (err || v >= to)
		goto out;
	err = exec_sql(s, m->sql, m->what);
	if (err)
		goto out;
	err = pragma_int(s, "SELECT count(*) FROM pragma_foreign_key_check", &bad);
	if (err)
		goto out;
	if (bad) {
		err = errf(s, -EUCLEAN, "%lld rows break a foreign key after it", (long long)bad);
		goto out;
	}
	/* PRAGMA takes no parameters; the numbers are ours, not input. */
	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d", STORE_APP_ID, to);
	err = exec_sql(s, sql, "setting user_version");
out:
	if (!err)
		err = exec_sql(s, "COMMIT", "migration: COMMIT");
	if (err) {
		char keep[sizeof(s->err)];

		memcpy(keep, s->err, sizeof(keep));
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		errf(s, err, "%s: migration %d (%s): %s", path, to, m->what, keep);
	}
	return err;
}

static int migrate(struct store *s, const char *path, int64_t from)
{
	int err = 0;

	if (from == STORE_SCHEMA_VERSION)
		return 0;
	err = exec_sql(s, "PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys");
	for (int to = (int)from + 1; !err && to <= STORE_SCHEMA_VERSION; to++)
		err = migrate_step(s, path, to);
	return err;
}

static int open_db(struct store *s, const char *dir)
{
	char path[PATH_MAX];
	const char *mode;
	sqlite3_stmt *q;
	int64_t version, fk;
	int fd, rc, err;

	if (!dir || !*dir)
		return errf(s, -EINVAL, "state directory: missing");
	if (snprintf(path, sizeof(path), "%s/%s", dir, STORE_DB_NAME) >= (int)sizeof(path))
		return errf(s, -ENAMETOOLONG, "state directory \"%.60s...\": path too long", dir);
	err = mkdir_p(s, dir);
	if (err)
		return err;
	/* Created here so that it is 0600 whatever the umask: SQLite gives
	 * the -wal and -shm files the mode of the database file. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errf(s, -errno, "%s: %s", path, strerror(errno));
	close(fd);

	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_EXRESCODE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		if (!s->db)
			return errf(s, -ENOMEM, "%s: out of memory", path);
		return sqlerr(s, rc, "%s: open", path);
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);

	/* WAL: readers never block the writer, and a commit is one append
	 * and one fsync of the log. It reads the header first, so a file
	 * that is not SQLite fails here. */
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return sqlerr(s, rc, "%s: PRAGMA journal_mode", path);
	rc = sqlite3_step(q);
	mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
	if (rc != SQLITE_ROW) {
		err = sqlerr(s, rc, "%s: PRAGMA journal_mode", path);
		sqlite3_finalize(q);
		return err;
	}
	if (!mode || strcmp(mode, "wal")) {
		err = errf(s, -ENOTSUP, "%s: the file system refuses WAL mode (journal_mode stays %s)", path,
			   mode ? mode : "?");
		sqlite3_finalize(q);
		return err;
	}
	sqlite3_finalize(q);
	/* FULL: in WAL mode, every commit fsyncs the log before returning,
	 * which is what makes store_commit() returning 0 mean "on disk". */
	err = exec_sql(s, "PRAGMA synchronous = FULL", "PRAGMA synchronous");
	if (err)
		return err;

	err = check_identity(s, path, &version);
	if (!err)
		err = migrate(s, path, version);
	if (err)
		return err;

	err = exec_sql(s, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys");
	if (!err)
		err = pragma_int(s, "PRAGMA foreign_keys", &fk);
	if (err)
		return err;
	if (fk != 1)
		return errf(s, -ENOTSUP, "%s: this SQLite does not enforce foreign keys", path);
	fsync_dir(dir);
	return 0;
}

int store_open(struct store **out, const char *dir)
{
	struct store *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s) {
		snprintf(open_err, sizeof(open_err), "store: out of memory");
		return -ENOMEM;
	}
	err = open_db(s, dir);
	if (err) {
		memcpy(open_err, s->err, sizeof(open_err));
		store_close(s);
		return err;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->db && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close_v2(s->db);
	free(s);
}

const char *store_errmsg(const struct store *s)
{
	return s ? s->err : open_err;
}

int store_schema_version(struct store *s)
{
	int64_t v;
	int err = pragma_int(s, "PRAGMA user_version", &v);

	return err ? err : (int)v;
}

/* ------------------------------------------------------------------ */
/* Spaces                                                              */
/* ------------------------------------------------------------------ */

/* path must be parent/leaf, or a leaf without '/' for a root space: the
 * depth ordering of store_space_each counts on it. */
static int check_space_path(struct store *s, const char *path, const char *parent)
{
	size_t np = strlen(parent);
	const char *leaf = path;

	if (np) {
		if (strncmp(path, parent, np) || path[np] != '/')
			return errf(s, -EINVAL, "space \"%s\": not a child of \"%s\"", path, parent);
		leaf = path + np + 1;
	}
	if (!*leaf || strchr(leaf, '/'))
		return errf(s, -EINVAL, "space \"%s\": the last component must be one non-empty name", path);
	return 0;
}

static int depth_of(const char *path)
{
	int d = 0;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

static int space_insert(struct store *s, const char *path, const char *parent, int64_t now)
{
	sqlite3_stmt *q = q_take(s, Q_SPACE_INSERT);
	int rc;

	if (!q)
		return -EIO;
	bind_str(q, 1, path);
	if (*parent)
		bind_str(q, 2, parent);
	else
		sqlite3_bind_null(q, 2);
	sqlite3_bind_int(q, 3, depth_of(path));
	sqlite3_bind_int64(q, 4, now);
	rc = sqlite3_step(q);
	q_give(s, Q_SPACE_INSERT, q);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return errf(s, -ENOENT, "space \"%s\": parent \"%s\" does not exist", path, parent);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return errf(s, -EEXIST, "space \"%s\" already exists", path);
	return sqlerr(s, rc, "space \"%s\": insert", path);
}

static int label_insert(struct store *s, const char *path, const char *key, const char *value)
{
	sqlite3_stmt *q = q_take(s, Q_LABEL_INSERT);
	int rc;

	if (!q)
		return -EIO;
	bind_str(q, 1, path);
	bind_str(q, 2, key);
	bind_str(q, 3, value);
	rc = sqlite3_step(q);
	q_give(s, Q_LABEL_INSERT, q);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "space \"%s\": label %s", path, key);
	return 0;
}

int store_space_add(struct store *s, const char *path, const char *parent)
{
	int err;

	if (!parent)
		parent = "";
	err = check_str(s, "space path", path, ST_PATH_MAX, false);
	if (!err)
		err = check_str(s, "parent space", parent, ST_PATH_MAX, true);
	if (!err)
		err = check_space_path(s, path, parent);
	if (!err)
		err = wbegin(s);
	if (err)
		return err;
	err = space_insert(s, path, parent, time(NULL));
	if (!err)
		err = label_insert(s, path, "azds.io/space", "true");
	if (!err)
		err = label_insert(s, path, "azds.io/parent-space", parent);
	return wend(s, err);
}

static int space_labels(struct store *s, struct st_space *sp)
{
	sqlite3_stmt *q = q_take(s, Q_SPACE_LABELS);
	int rc, err = 0;

	if (!q)
		return -EIO;
	bind_str(q, 1, sp->path);
	sp->nlabels = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct st_label *l = &sp->labels[sp->nlabels];

		if (sp->nlabels == ST_LABELS_MAX) {
			err = errf(s, -EUCLEAN, "space \"%s\": more than %d labels stored", sp->path, ST_LABELS_MAX);
			break;
		}
		err = col_str(s, q, 0, l->key, sizeof(l->key), "label key");
		if (!err)
			err = col_str(s, q, 1, l->value, sizeof(l->value), "label value");
		if (err)
			break;
		sp->nlabels++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sqlerr(s, rc, "space \"%s\": reading labels", sp->path);
	q_give(s, Q_SPACE_LABELS, q);
	return err;
}

/* Columns: id, path, parent, created. */
static int space_row(struct store *s, sqlite3_stmt *q, struct st_space *sp)
{
	int err;

	memset(sp, 0, sizeof(*sp));
	sp->id = sqlite3_column_int64(q, 0);
	err = col_str(s, q, 1, sp->path, sizeof(sp->path), "space path");
	if (!err)
		err = col_str(s, q, 2, sp->parent, sizeof(sp->parent), "parent space");
	sp->created = sqlite3_column_int64(q, 3);
	if (!err)
		err = space_labels(s, sp);
	return err;
}

int store_space_get(struct store *s, const char *path, struct st_space *out)
{
	struct st_space tmp;
	sqlite3_stmt *q;
	int rc, err;

	if (!out)
		out = &tmp; /* only whether it exists */

	err = check_str(s, "space path", path, ST_PATH_MAX, false);
	if (err)
		return err;
	q = q_take(s, Q_SPACE_GET);
	if (!q)
		return -EIO;
	bind_str(q, 1, path);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		err = space_row(s, q, out);
	else if (rc == SQLITE_DONE)
		err = errf(s, -ENOENT, "space \"%s\" does not exist", path);
	else
		err = sqlerr(s, rc, "space \"%s\": read", path);
	q_give(s, Q_SPACE_GET, q);
	return err;
}

int store_space_remove(struct store *s, const char *path)
{
	int64_t exists, children, services, pods;
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "space path", path, ST_PATH_MAX, false);
	if (!err)
		err = wbegin(s);
	if (err)
		return err;
	q = q_take(s, Q_SPACE_USAGE);
	if (!q)
		return wend(s, -EIO);
	bind_str(q, 1, path);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		exists = sqlite3_column_int64(q, 0);
		children = sqlite3_column_int64(q, 1);
		services = sqlite3_column_int64(q, 2);
		pods = sqlite3_column_int64(q, 3);
	}
	q_give(s, Q_SPACE_USAGE, q);
	if (rc != SQLITE_ROW)
		err = sqlerr(s, rc, "space \"%s\": read", path);
	else if (!exists)
		err = errf(s, -ENOENT, "space \"%s\" does not exist", path);
	else if (children)
		err = errf(s, -ENOTEMPTY, "space \"%s\": has %lld child space%s", path, (long long)children,
			   children == 1 ? "" : "s");
	else if (services || pods)
		err = errf(s, -ENOTEMPTY, "space \"%s\": still has %lld service%s and %lld pod%s; remove them first",
			   path, (long long)services, services == 1 ? "" : "s", (long long)pods, pods == 1 ? "" : "s");
	if (!err) {
		q = q_take(s, Q_SPACE_DELETE);
		if (!q)
			return wend(s, -EIO);
		bind_str(q, 1, path);
		rc = q_step(s, Q_SPACE_DELETE, q);
		/* The checks above saw no dependents; RESTRICT is the backstop
		 * (SQLite reports it as a trigger's constraint). */
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY || rc == SQLITE_CONSTRAINT_TRIGGER)
			err = errf(s, -ENOTEMPTY, "space \"%s\": still in use", path);
		else if (rc != SQLITE_DONE)
			err = sqlerr(s, rc, "space \"%s\": delete", path);
	}
	return wend(s, err);
}

int store_space_each(struct store *s, int (*cb)(void *ctx, const struct st_space *sp), void *ctx)
{
	sqlite3_stmt *q = q_take(s, Q_SPACE_EACH);
	struct st_space sp;
	int rc, err = 0;

	if (!q)
		return -EIO;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		err = space_row(s, q, &sp);
		if (err || cb(ctx, &sp))
			break;
	}
	if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = sqlerr(s, rc, "listing spaces");
	q_give(s, Q_SPACE_EACH, q);
	return err;
}

int store_space_count(struct store *s, int64_t *n)
{
	return q_count(s, Q_SPACE_COUNT, "spaces", n);
}

int store_space_children(struct store *s, const char *path, int64_t *n)
{
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "space path", path, ST_PATH_MAX, false);
	if (err)
		return err;
	q = q_take(s, Q_SPACE_CHILDREN);
	if (!q)
		return -EIO;
	bind_str(q, 1, path);
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW)
		err = sqlerr(s, rc, "space \"%s\": counting children", path);
	else if (!sqlite3_column_int64(q, 0))
		err = errf(s, -ENOENT, "space \"%s\" does not exist", path);
	else
		*n = sqlite3_column_int64(q, 1);
	q_give(s, Q_SPACE_CHILDREN, q);
	return err;
}

/* ------------------------------------------------------------------ */
/* Services                                                            */
/* ------------------------------------------------------------------ */

static int check_service(struct store *s, const struct st_service *svc)
{
	int err = check_str(s, "service space", svc->space, ST_PATH_MAX, false);

	if (!err)
		err = check_str(s, "service name", svc->name, ST_NAME_MAX, false);
	if (err)
		return err;
	if (svc->kind != ST_KIND_HTTP && svc->kind != ST_KIND_TCP)
		return errf(s, -EINVAL, "service \"%s\" in space \"%s\": unknown kind %d", svc->name, svc->space,
			    svc->kind);
	if (!svc->port || !svc->target_port)
		return errf(s, -EINVAL, "service \"%s\" in space \"%s\": port %u, target port %u: 0 is not a port",
			    svc->name, svc->space, svc->port, svc->target_port);
	return 0;
}

static int service_upsert(struct store *s, const struct st_service *svc)
{
	sqlite3_stmt *q = q_take(s, Q_SERVICE_PUT);
	int rc;

	if (!q)
		return -EIO;
	bind_str(q, 1, svc->space);
	bind_str(q, 2, svc->name);
	sqlite3_bind_int(q, 3, svc->kind);
	sqlite3_bind_int(q, 4, svc->port);
	sqlite3_bind_int(q, 5, svc->target_port);
	sqlite3_bind_int64(q, 6, svc->created ? svc->created : time(NULL));
	rc = q_step(s, Q_SERVICE_PUT, q);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return errf(s, -ENOENT, "service \"%s\": space \"%s\" does not exist", svc->name, svc->space);
	return sqlerr(s, rc, "service \"%s\" in space \"%s\": write", svc->name, svc->space);
}

/* Which name holds vip (host order), for the message of a conflict. */
static void service_by_vip(struct store *s, int64_t vip, char *name, size_t len)
{
	sqlite3_stmt *q = q_take(s, Q_SERVICE_BY_VIP);

	snprintf(name, len, "?");
	if (!q)
		return;
	sqlite3_bind_int64(q, 1, vip);
	if (sqlite3_step(q) == SQLITE_ROW)
		snprintf(name, len, "%s", (const char *)sqlite3_column_text(q, 0));
	q_give(s, Q_SERVICE_BY_VIP, q);
}

static int set_vip(struct store *s, const char *name, uint32_t vip)
{
	char a[INET_ADDRSTRLEN], other[ST_NAME_MAX];
	sqlite3_stmt *q = q_take(s, Q_SERVICE_SET_VIP);
	int rc;

	if (!q)
		return -EIO;
	bind_str(q, 1, name);
	sqlite3_bind_int64(q, 2, ntohl(vip));
	rc = q_step(s, Q_SERVICE_SET_VIP, q);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		inet_ntop(AF_INET, &vip, a, sizeof(a));
		service_by_vip(s, ntohl(vip), other, sizeof(other));
		return errf(s, -EEXIST, "service \"%s\": VIP %s is service \"%s\"'s", name, a, other);
	}
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "service \"%s\": setting its VIP", name);
	if (!s->changes)
		return errf(s, -ENOENT, "service \"%s\" does not exist in any space", name);
	return 0;
}

int store_service_put(struct store *s, const struct st_service *svc)
{
	int err = check_service(s, svc);

	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	if (!svc->vip)
		return service_upsert(s, svc);
	/* A VIP given: it becomes the name's, in every space. */
	err = wbegin(s);
	if (err)
		return err;
	err = service_upsert(s, svc);
	if (!err)
		err = set_vip(s, svc->name, svc->vip);
	return wend(s, err);
}

/* Columns: space, name, kind, port, target_port, vip, created. */
static int service_row(struct store *s, sqlite3_stmt *q, struct st_service *svc)
{
	int err;

	memset(svc, 0, sizeof(*svc));
	err = col_str(s, q, 0, svc->space, sizeof(svc->space), "service space");
	if (!err)
		err = col_str(s, q, 1, svc->name, sizeof(svc->name), "service name");
	svc->kind = sqlite3_column_int(q, 2);
	svc->port = (uint16_t)sqlite3_column_int(q, 3);
	svc->target_port = (uint16_t)sqlite3_column_int(q, 4);
	svc->vip = htonl((uint32_t)sqlite3_column_int64(q, 5));
	svc->created = sqlite3_column_int64(q, 6);
	return err;
}

int store_service_get(struct store *s, const char *space, const char *name, struct st_service *out)
{
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "service space", space, ST_PATH_MAX, false);
	if (!err)
		err = check_str(s, "service name", name, ST_NAME_MAX, false);
	if (err)
		return err;
	q = q_take(s, Q_SERVICE_GET);
	if (!q)
		return -EIO;
	bind_str(q, 1, space);
	bind_str(q, 2, name);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		err = service_row(s, q, out);
	else if (rc == SQLITE_DONE)
		err = errf(s, -ENOENT, "service \"%s\" in space \"%s\" does not exist", name, space);
	else
		err = sqlerr(s, rc, "service \"%s\" in space \"%s\": read", name, space);
	q_give(s, Q_SERVICE_GET, q);
	return err;
}

int store_service_remove(struct store *s, const char *space, const char *name)
{
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "service space", space, ST_PATH_MAX, false);
	if (!err)
		err = check_str(s, "service name", name, ST_NAME_MAX, false);
	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	q = q_take(s, Q_SERVICE_DELETE);
	if (!q)
		return -EIO;
	bind_str(q, 1, space);
	bind_str(q, 2, name);
	rc = q_step(s, Q_SERVICE_DELETE, q);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "service \"%s\" in space \"%s\": delete", name, space);
	if (!s->changes)
		return errf(s, -ENOENT, "service \"%s\" in space \"%s\" does not exist", name, space);
	return 0;
}

int store_service_set_vip(struct store *s, const char *name, uint32_t vip)
{
	int err = check_str(s, "service name", name, ST_NAME_MAX, false);

	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	return set_vip(s, name, vip);
}

int store_service_each(struct store *s, const char *space, int (*cb)(void *ctx, const struct st_service *svc),
		       void *ctx)
{
	enum qid id = space ? Q_SERVICE_EACH_SPACE : Q_SERVICE_EACH;
	struct st_service svc;
	sqlite3_stmt *q;
	int rc, err;

	if (space) {
		err = check_str(s, "service space", space, ST_PATH_MAX, false);
		if (err)
			return err;
	}
	q = q_take(s, id);
	if (!q)
		return -EIO;
	if (space)
		bind_str(q, 1, space);
	err = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		err = service_row(s, q, &svc);
		if (err || cb(ctx, &svc))
			break;
	}
	if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = sqlerr(s, rc, "listing services");
	q_give(s, id, q);
	return err;
}

int store_service_count(struct store *s, int64_t *n)
{
	return q_count(s, Q_SERVICE_COUNT, "services", n);
}

/* ------------------------------------------------------------------ */
/* Pods                                                                */
/* ------------------------------------------------------------------ */

static int check_strv(struct store *s, const char *pod, const char *what, char *const *v, int n, int max)
{
	if (n < 0 || n > max)
		return errf(s, -E2BIG, "pod \"%s\": %d %s, the limit is %d", pod, n, what, max);
	for (int i = 0; i < n; i++) {
		if (!v[i])
			return errf(s, -EINVAL, "pod \"%s\": %s %d is NULL", pod, what, i);
		if (strnlen(v[i], ST_ARG_MAX) == ST_ARG_MAX)
			return errf(s, -ENAMETOOLONG, "pod \"%s\": %s %d is longer than %d bytes", pod, what, i,
				    ST_ARG_MAX - 1);
	}
	return 0;
}

static int check_pod(struct store *s, const struct st_pod *p)
{
	int err = check_str(s, "pod name", p->name, ST_NAME_MAX, false);

	if (!err)
		err = check_str(s, "pod space", p->space, ST_PATH_MAX, false);
	if (!err)
		err = check_str(s, "pod workdir", p->workdir, sizeof(p->workdir), true);
	if (!err)
		err = check_str(s, "pod mount", p->mount, sizeof(p->mount), true);
	if (err)
		return err;
	if (p->nservices < 0 || p->nservices > ST_MAX_POD_SERVICES)
		return errf(s, -E2BIG, "pod \"%s\": %d services, the limit is %d", p->name, p->nservices,
			    ST_MAX_POD_SERVICES);
	for (int i = 0; i < p->nservices; i++) {
		err = check_str(s, "pod service", p->services[i], ST_NAME_MAX, false);
		if (err)
			return err;
	}
	err = check_strv(s, p->name, "argv words", p->argv, p->argc, ST_ARGV_MAX);
	if (!err)
		err = check_strv(s, p->name, "env entries", p->env, p->nenv, ST_ENV_MAX);
	if (err)
		return err;
	if (p->restart < ST_RESTART_ALWAYS || p->restart > ST_RESTART_NEVER)
		return errf(s, -EINVAL, "pod \"%s\": unknown restart policy %d", p->name, p->restart);
	if (p->limits.memory_bytes > INT64_MAX)
		return errf(s, -ERANGE, "pod \"%s\": memory limit %llu is out of range", p->name,
			    (unsigned long long)p->limits.memory_bytes);
	return 0;
}

static int pod_free_uid(struct store *s, const char *pod, uint32_t base, uint32_t *uid)
{
	sqlite3_stmt *q = q_take(s, Q_POD_FREE_UID);
	int64_t v = -1;
	int rc;

	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, base);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	q_give(s, Q_POD_FREE_UID, q);
	if (rc != SQLITE_ROW)
		return sqlerr(s, rc, "pod \"%s\": allocating a uid", pod);
	if (v < base || v > ST_UID_MAX)
		return errf(s, -ENOSPC, "pod \"%s\": no free uid from %u", pod, base);
	*uid = (uint32_t)v;
	return 0;
}

static int pod_insert(struct store *s, const struct st_pod *p)
{
	sqlite3_stmt *q = q_take(s, Q_POD_INSERT);
	int rc;

	if (!q)
		return -EIO;
	bind_str(q, 1, p->name);
	bind_str(q, 2, p->space);
	bind_str(q, 3, p->workdir);
	sqlite3_bind_int(q, 4, p->restart);
	sqlite3_bind_int64(q, 5, (int64_t)p->limits.memory_bytes);
	sqlite3_bind_int64(q, 6, p->limits.pids);
	sqlite3_bind_int64(q, 7, p->limits.cpu_millis);
	sqlite3_bind_int64(q, 8, p->uid);
	sqlite3_bind_int64(q, 9, ntohl(p->addr));
	sqlite3_bind_int64(q, 10, p->created);
	bind_str(q, 11, p->mount);
	rc = q_step(s, Q_POD_INSERT, q);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return errf(s, -ENOENT, "pod \"%s\": space \"%s\" does not exist", p->name, p->space);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return errf(s, -EEXIST, "pod \"%s\" already exists", p->name);
	if (rc == SQLITE_CONSTRAINT_UNIQUE)
		return errf(s, -EEXIST, "pod \"%s\": its address or uid is another pod's", p->name);
	return sqlerr(s, rc, "pod \"%s\": insert", p->name);
}

static int pod_children_insert(struct store *s, const struct st_pod *p)
{
	sqlite3_stmt *q;
	int rc;

	for (int i = 0; i < p->nservices; i++) {
		q = q_take(s, Q_POD_SERVICE_INSERT);
		if (!q)
			return -EIO;
		bind_str(q, 1, p->name);
		bind_str(q, 2, p->services[i]);
		sqlite3_bind_int(q, 3, i);
		rc = q_step(s, Q_POD_SERVICE_INSERT, q);
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return errf(s, -EINVAL, "pod \"%s\": service \"%s\" listed twice", p->name, p->services[i]);
		if (rc != SQLITE_DONE)
			return sqlerr(s, rc, "pod \"%s\": service list", p->name);
	}
	for (int list = 0; list < 2; list++) {
		char *const *v = list ? p->env : p->argv;
		int n = list ? p->nenv : p->argc;

		for (int i = 0; i < n; i++) {
			q = q_take(s, Q_POD_ARG_INSERT);
			if (!q)
				return -EIO;
			bind_str(q, 1, p->name);
			sqlite3_bind_int(q, 2, list);
			sqlite3_bind_int(q, 3, i);
			bind_str(q, 4, v[i]);
			rc = q_step(s, Q_POD_ARG_INSERT, q);
			if (rc != SQLITE_DONE)
				return sqlerr(s, rc, "pod \"%s\": %s", p->name, list ? "environment" : "command");
		}
	}
	q = q_take(s, Q_POD_STATUS_INSERT);
	if (!q)
		return -EIO;
	bind_str(q, 1, p->name);
	rc = q_step(s, Q_POD_STATUS_INSERT, q);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "pod \"%s\": status", p->name);
	return 0;
}

int store_pod_add(struct store *s, struct st_pod *p, uint32_t uid_base)
{
	struct st_pod w;
	int err;

	err = check_pod(s, p);
	if (!err)
		err = wbegin(s);
	if (err)
		return err;
	/* A shallow copy: p keeps its old uid if anything fails. */
	memcpy(&w, p, sizeof(w));
	if (!w.created)
		w.created = time(NULL);
	err = pod_free_uid(s, w.name, uid_base, &w.uid);
	if (!err)
		err = pod_insert(s, &w);
	if (!err)
		err = pod_children_insert(s, &w);
	err = wend(s, err);
	if (!err) {
		p->uid = w.uid;
		p->created = w.created;
	}
	return err;
}

void st_pod_free(struct st_pod *p)
{
	for (int i = 0; i < ST_ARGV_MAX + 1; i++) {
		free(p->argv[i]);
		p->argv[i] = NULL;
	}
	for (int i = 0; i < ST_ENV_MAX + 1; i++) {
		free(p->env[i]);
		p->env[i] = NULL;
	}
	p->argc = 0;
	p->nenv = 0;
}

static int pod_children(struct store *s, struct st_pod *p)
{
	sqlite3_stmt *q = q_take(s, Q_POD_SERVICES);
	int rc, err = 0;

	if (!q)
		return -EIO;
	bind_str(q, 1, p->name);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (p->nservices == ST_MAX_POD_SERVICES) {
			err = errf(s, -EUCLEAN, "pod \"%s\": more than %d services stored", p->name,
				   ST_MAX_POD_SERVICES);
			break;
		}
		err = col_str(s, q, 0, p->services[p->nservices], ST_NAME_MAX, "pod service");
		if (err)
			break;
		p->nservices++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sqlerr(s, rc, "pod \"%s\": reading services", p->name);
	q_give(s, Q_POD_SERVICES, q);
	if (err)
		return err;

	q = q_take(s, Q_POD_ARGS);
	if (!q)
		return -EIO;
	bind_str(q, 1, p->name);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int list = sqlite3_column_int(q, 0);
		char **v = list ? p->env : p->argv;
		int *n = list ? &p->nenv : &p->argc;
		const char *t = (const char *)sqlite3_column_text(q, 1);

		if (*n == (list ? ST_ENV_MAX : ST_ARGV_MAX)) {
			err = errf(s, -EUCLEAN, "pod \"%s\": too many %s stored", p->name,
				   list ? "env entries" : "argv words");
			break;
		}
		v[*n] = strdup(t ? t : "");
		if (!v[*n]) {
			err = errf(s, -ENOMEM, "pod \"%s\": out of memory", p->name);
			break;
		}
		(*n)++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sqlerr(s, rc, "pod \"%s\": reading its command", p->name);
	q_give(s, Q_POD_ARGS, q);
	return err;
}

/* Columns: POD_COLUMNS. Either output may be NULL. */
static int pod_row(struct store *s, sqlite3_stmt *q, struct st_pod *p, struct st_pod_status *st)
{
	struct st_pod tmp;
	int err;

	if (!p)
		p = &tmp;
	memset(p, 0, sizeof(*p));
	err = col_str(s, q, 0, p->name, sizeof(p->name), "pod name");
	if (!err)
		err = col_str(s, q, 1, p->space, sizeof(p->space), "pod space");
	if (!err)
		err = col_str(s, q, 2, p->workdir, sizeof(p->workdir), "pod workdir");
	p->restart = sqlite3_column_int(q, 3);
	p->limits.memory_bytes = (uint64_t)sqlite3_column_int64(q, 4);
	p->limits.pids = (uint32_t)sqlite3_column_int64(q, 5);
	p->limits.cpu_millis = (uint32_t)sqlite3_column_int64(q, 6);
	p->uid = (uint32_t)sqlite3_column_int64(q, 7);
	p->addr = htonl((uint32_t)sqlite3_column_int64(q, 8));
	p->created = sqlite3_column_int64(q, 9);
	if (!err)
		err = col_str(s, q, 18, p->mount, sizeof(p->mount), "pod mount");
	if (st) {
		memset(st, 0, sizeof(*st));
		st->last_exit_code = -1;
		if (sqlite3_column_type(q, 10) != SQLITE_NULL) {
			st->phase = sqlite3_column_int(q, 10);
			st->pid = (pid_t)sqlite3_column_int64(q, 11);
			st->restarts = sqlite3_column_int(q, 12);
			st->last_exit_code = sqlite3_column_int(q, 13);
			st->last_signal = sqlite3_column_int(q, 14);
			st->started = sqlite3_column_int64(q, 15);
			st->finished = sqlite3_column_int64(q, 16);
			if (!err)
				err = col_str(s, q, 17, st->reason, sizeof(st->reason), "pod status reason");
		}
	}
	/* The spec's lists are read only for a caller that wants the spec. */
	if (!err && p != &tmp)
		err = pod_children(s, p);
	if (err && p != &tmp)
		st_pod_free(p);
	return err;
}

int store_pod_get(struct store *s, const char *name, struct st_pod *out, struct st_pod_status *st)
{
	sqlite3_stmt *q;
	int rc, err;

	if (out)
		memset(out, 0, sizeof(*out));
	err = check_str(s, "pod name", name, ST_NAME_MAX, false);
	if (err)
		return err;
	q = q_take(s, Q_POD_GET);
	if (!q)
		return -EIO;
	bind_str(q, 1, name);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		err = pod_row(s, q, out, st);
	else if (rc == SQLITE_DONE)
		err = errf(s, -ENOENT, "pod \"%s\" does not exist", name);
	else
		err = sqlerr(s, rc, "pod \"%s\": read", name);
	q_give(s, Q_POD_GET, q);
	return err;
}

int store_pod_remove(struct store *s, const char *name)
{
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "pod name", name, ST_NAME_MAX, false);
	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	q = q_take(s, Q_POD_DELETE);
	if (!q)
		return -EIO;
	bind_str(q, 1, name);
	rc = q_step(s, Q_POD_DELETE, q);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "pod \"%s\": delete", name);
	if (!s->changes)
		return errf(s, -ENOENT, "pod \"%s\" does not exist", name);
	return 0;
}

/* Which pod holds addr (host order), for the message of a conflict. */
static void pod_by_addr(struct store *s, int64_t addr, char *name, size_t len)
{
	sqlite3_stmt *q = q_take(s, Q_POD_BY_ADDR);

	snprintf(name, len, "?");
	if (!q)
		return;
	sqlite3_bind_int64(q, 1, addr);
	if (sqlite3_step(q) == SQLITE_ROW)
		snprintf(name, len, "%s", (const char *)sqlite3_column_text(q, 0));
	q_give(s, Q_POD_BY_ADDR, q);
}

int store_pod_set_addr(struct store *s, const char *name, uint32_t addr)
{
	char a[INET_ADDRSTRLEN], other[ST_NAME_MAX];
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "pod name", name, ST_NAME_MAX, false);
	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	q = q_take(s, Q_POD_SET_ADDR);
	if (!q)
		return -EIO;
	bind_str(q, 1, name);
	sqlite3_bind_int64(q, 2, ntohl(addr));
	rc = q_step(s, Q_POD_SET_ADDR, q);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		inet_ntop(AF_INET, &addr, a, sizeof(a));
		pod_by_addr(s, ntohl(addr), other, sizeof(other));
		return errf(s, -EEXIST, "pod \"%s\": address %s is pod \"%s\"'s", name, a, other);
	}
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "pod \"%s\": setting its address", name);
	if (!s->changes)
		return errf(s, -ENOENT, "pod \"%s\" does not exist", name);
	return 0;
}

int store_pod_set_status(struct store *s, const char *name, const struct st_pod_status *st)
{
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "pod name", name, ST_NAME_MAX, false);
	if (!err)
		err = check_str(s, "pod status reason", st->reason, sizeof(st->reason), true);
	if (!err && (st->phase < ST_PHASE_PENDING || st->phase > ST_PHASE_STOPPED))
		err = errf(s, -EINVAL, "pod \"%s\": unknown phase %d", name, st->phase);
	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	q = q_take(s, Q_POD_SET_STATUS);
	if (!q)
		return -EIO;
	bind_str(q, 1, name);
	sqlite3_bind_int(q, 2, st->phase);
	sqlite3_bind_int64(q, 3, st->pid);
	sqlite3_bind_int(q, 4, st->restarts);
	sqlite3_bind_int(q, 5, st->last_exit_code);
	sqlite3_bind_int(q, 6, st->last_signal);
	sqlite3_bind_int64(q, 7, st->started);
	sqlite3_bind_int64(q, 8, st->finished);
	bind_str(q, 9, st->reason);
	rc = q_step(s, Q_POD_SET_STATUS, q);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "pod \"%s\": writing its status", name);
	if (!s->changes)
		return errf(s, -ENOENT, "pod \"%s\" does not exist", name);
	return 0;
}

int store_pod_each(struct store *s, const char *space,
		   int (*cb)(void *ctx, const struct st_pod *p, const struct st_pod_status *st), void *ctx)
{
	enum qid id = space ? Q_POD_EACH_SPACE : Q_POD_EACH;
	struct st_pod_status st;
	struct st_pod p;
	sqlite3_stmt *q;
	int rc, err, stop;

	if (space) {
		err = check_str(s, "pod space", space, ST_PATH_MAX, false);
		if (err)
			return err;
	}
	q = q_take(s, id);
	if (!q)
		return -EIO;
	if (space)
		bind_str(q, 1, space);
	err = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		err = pod_row(s, q, &p, &st);
		if (err)
			break;
		stop = cb(ctx, &p, &st);
		st_pod_free(&p);
		if (stop)
			break;
	}
	if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = sqlerr(s, rc, "listing pods");
	q_give(s, id, q);
	return err;
}

int store_pod_count(struct store *s, int64_t *n)
{
	return q_count(s, Q_POD_COUNT, "pods", n);
}

/* ------------------------------------------------------------------ */
/* Selections                                                          */
/* ------------------------------------------------------------------ */

int store_selection_set(struct store *s, uint32_t uid, const char *path)
{
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "space path", path, ST_PATH_MAX, false);
	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	q = q_take(s, Q_SELECTION_SET);
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, uid);
	bind_str(q, 2, path);
	rc = q_step(s, Q_SELECTION_SET, q);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return errf(s, -ENOENT, "selecting space \"%s\" for uid %u: the space does not exist", path, uid);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "selecting space \"%s\" for uid %u", path, uid);
	return 0;
}

/* One text value by a key: -ENOENT without a row, -ERANGE if len is short. */
static int get_text(struct store *s, enum qid id, sqlite3_stmt *q, char *out, size_t len, const char *what)
{
	int rc = sqlite3_step(q);
	int err = 0;

	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(q, 0);
		size_t n = (size_t)sqlite3_column_bytes(q, 0);

		if (n >= len)
			err = errf(s, -ERANGE, "%s: %zu bytes do not fit a buffer of %zu", what, n, len);
		else {
			memcpy(out, t ? (const char *)t : "", n);
			out[n] = '\0';
		}
	} else if (rc == SQLITE_DONE) {
		err = errf(s, -ENOENT, "%s: none", what);
	} else {
		err = sqlerr(s, rc, "%s", what);
	}
	q_give(s, id, q);
	return err;
}

int store_selection_get(struct store *s, uint32_t uid, char *path, size_t len)
{
	sqlite3_stmt *q = q_take(s, Q_SELECTION_GET);
	char what[48];

	if (!q)
		return -EIO;
	snprintf(what, sizeof(what), "selected space of uid %u", uid);
	sqlite3_bind_int64(q, 1, uid);
	return get_text(s, Q_SELECTION_GET, q, path, len, what);
}

int store_selection_clear_space(struct store *s, const char *path)
{
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "space path", path, ST_PATH_MAX, false);
	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	q = q_take(s, Q_SELECTION_CLEAR);
	if (!q)
		return -EIO;
	bind_str(q, 1, path);
	rc = q_step(s, Q_SELECTION_CLEAR, q);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "clearing selections of space \"%s\"", path);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

int store_setting_set(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "setting", key, ST_SETTING_KEY_MAX, false);
	if (!err)
		err = check_str(s, "setting value", value, ST_SETTING_VALUE_MAX, true);
	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	q = q_take(s, Q_SETTING_SET);
	if (!q)
		return -EIO;
	bind_str(q, 1, key);
	bind_str(q, 2, value);
	rc = q_step(s, Q_SETTING_SET, q);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "setting %s", key);
	return 0;
}

int store_setting_get(struct store *s, const char *key, char *value, size_t len)
{
	sqlite3_stmt *q;
	char what[ST_SETTING_KEY_MAX + 16];
	int err;

	err = check_str(s, "setting", key, ST_SETTING_KEY_MAX, false);
	if (err)
		return err;
	q = q_take(s, Q_SETTING_GET);
	if (!q)
		return -EIO;
	snprintf(what, sizeof(what), "setting %s", key);
	bind_str(q, 1, key);
	return get_text(s, Q_SETTING_GET, q, value, len, what);
}

int store_setting_remove(struct store *s, const char *key)
{
	sqlite3_stmt *q;
	int rc, err;

	err = check_str(s, "setting", key, ST_SETTING_KEY_MAX, false);
	if (!err)
		err = txn_alive(s);
	if (err)
		return err;
	q = q_take(s, Q_SETTING_DELETE);
	if (!q)
		return -EIO;
	bind_str(q, 1, key);
	rc = q_step(s, Q_SETTING_DELETE, q);
	if (rc != SQLITE_DONE)
		return sqlerr(s, rc, "removing setting %s", key);
	if (!s->changes)
		return errf(s, -ENOENT, "setting %s: none", key);
	return 0;
}

int store_setting_each(struct store *s, int (*cb)(void *ctx, const char *key, const char *value), void *ctx)
{
	sqlite3_stmt *q = q_take(s, Q_SETTING_EACH);
	int rc, err = 0;

	if (!q)
		return -EIO;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(q, 0);
		const char *v = (const char *)sqlite3_column_text(q, 1);

		if (cb(ctx, k ? k : "", v ? v : ""))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = sqlerr(s, rc, "listing settings");
	q_give(s, Q_SETTING_EACH, q);
	return err;
}
