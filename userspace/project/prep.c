// SPDX-License-Identifier: MIT
/*
 * azds prep's generator (the rules are in prep.h): per language, the
 * Dockerfiles and the develop section of azds.yaml; for every language,
 * the rest of azds.yaml, .dockerignore and the Helm chart, whose
 * templates are Go-template text written as text. Layout and keys follow
 * what Dev Spaces' prep wrote (its samples keep the output), brought up to
 * today's images and Kubernetes APIs (apps/v1, networking.k8s.io/v1).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "prep.h"

/* growing text ------------------------------------------------------------ */

struct sb {
	char *p;
	size_t len, cap;
	bool oom;
};

/* room for n more bytes and a NUL */
static bool sb_reserve(struct sb *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 1024;
	char *np;

	if (b->oom)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	while (cap < b->len + n + 1)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np) {
		b->oom = true;
		return false;
	}
	b->p = np;
	b->cap = cap;
	return true;
}

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (!sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		b->oom = true;
	if (n < 0 || !sb_reserve(b, n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

/* takes the text; NULL when memory ran out */
static char *sb_take(struct sb *b)
{
	char *p = b->oom ? NULL : b->p;

	if (b->oom)
		free(b->p);
	else if (!p)
		p = strdup("");
	memset(b, 0, sizeof(*b));
	return p;
}

/* a JSON string (Dockerfile exec form) */
static void sb_json(struct sb *b, const char *s)
{
	sb_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_printf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			sb_printf(b, "\\u%04x", (unsigned char)*s);
		else
			sb_add(b, s, 1);
	}
	sb_puts(b, "\"");
}

/* CMD ["a", "b"] */
static void sb_cmd(struct sb *b, const char *const *argv)
{
	sb_puts(b, "CMD [");
	for (int i = 0; argv[i]; i++) {
		if (i)
			sb_puts(b, ", ");
		sb_json(b, argv[i]);
	}
	sb_puts(b, "]\n");
}

/*
 * A YAML scalar that reads back as the same string: plain when it starts
 * with a letter, '$', '/', "./" or a "-x"/"--x" flag and holds nothing a
 * flow sequence or YAML 1.1's booleans would misread; double-quoted else.
 */
static bool yaml_plain(const char *s)
{
	static const char *const words[] = { "true", "false", "yes", "no", "on", "off", "null", "y", "n" };
	const char *rest = s;

	if (isalpha((unsigned char)*s) || *s == '$' || *s == '/')
		rest = s + 1;
	else if (!strncmp(s, "./", 2))
		rest = s + 2;
	else if (s[0] == '-' && (isalpha((unsigned char)s[1]) || (s[1] == '-' && isalpha((unsigned char)s[2]))))
		rest = s + 2;
	else
		return false;
	for (; *rest; rest++)
		if (!isalnum((unsigned char)*rest) && !strchr("_./+=-$()", *rest))
			return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcasecmp(s, words[i]))
			return false;
	return true;
}

static void sb_yaml(struct sb *b, const char *s)
{
	if (yaml_plain(s)) {
		sb_puts(b, s);
		return;
	}
	sb_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_printf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			sb_printf(b, "\\x%02x", (unsigned char)*s);
		else
			sb_add(b, s, 1);
	}
	sb_puts(b, "\"");
}

/* [a, b] */
static void sb_yaml_flow(struct sb *b, const char *const *v)
{
	sb_puts(b, "[");
	for (int i = 0; v[i]; i++) {
		if (i)
			sb_puts(b, ", ");
		sb_yaml(b, v[i]);
	}
	sb_puts(b, "]");
}

/* @KEY@ replaced from vars; an '@' that starts no known key stays */
struct var {
	const char *key, *val;
};

static void sb_render(struct sb *b, const char *tpl, const struct var *v, size_t nv)
{
	for (const char *p = tpl; *p;) {
		const char *at = strchr(p, '@'), *end;
		const struct var *hit = NULL;

		if (!at) {
			sb_puts(b, p);
			return;
		}
		sb_add(b, p, at - p);
		end = strchr(at + 1, '@');
		for (size_t i = 0; end && i < nv && !hit; i++)
			if (strlen(v[i].key) == (size_t)(end - at - 1) && !strncmp(at + 1, v[i].key, end - at - 1))
				hit = &v[i];
		if (!hit) {
			sb_add(b, at, 1);
			p = at + 1;
			continue;
		}
		sb_puts(b, hit->val);
		p = end + 1;
	}
}

/* per language ------------------------------------------------------------- */

#define WORDS 16

/* what a language puts in the Dockerfiles, .dockerignore and azds.yaml */
struct lang_out {
	struct sb docker, develop, ignore;
	const char *sync[8];      /* container.sync: excludes only, so every other file syncs */
	const char *kill[4];      /* iterate.processesToKill */
	const char *cmd[WORDS];   /* container.command */
	const char *build[WORDS]; /* iterate.buildCommands (one), or empty */
	bool runtime_kill;        /* kill names a runtime, true whoever wrote the Dockerfile */
	bool args;                /* build.args BUILD_CONFIGURATION (.NET) */
	char str[6][384];         /* room for the words made here */
};

static void header(struct sb *b, const struct azds_prep *r, bool develop)
{
	sb_printf(b, "# Generated by azds prep for %s (%s)%s.\n", r->proj.name, azds_lang_name(r->proj.lang),
		  develop ? ": the image azds up builds for development (azds.yaml, configurations.develop)" : "");
	sb_puts(b, "# azds prep never overwrites this file: edit it freely.\n");
}

static void env_port(struct sb *b, unsigned port)
{
	/* PORT is the convention most frameworks read; EXPOSE is what azds up serves */
	sb_printf(b, "ENV PORT=%u\nEXPOSE %u\n", port, port);
}

static void gen_node(const struct azds_prep *r, struct lang_out *o)
{
	const struct azds_project *p = &r->proj;
	static const char *const npm[] = { "npm", "start", NULL };
	const char *node[] = { "node", p->entry, NULL };
	const char *const *cmd = p->node_start ? npm : node;
	bool manifest = p->marker[0] != 0;

	for (int dev = 0; dev < 2; dev++) {
		struct sb *b = dev ? &o->develop : &o->docker;

		header(b, r, dev);
		sb_puts(b, "FROM node:lts\n");
		if (!dev)
			sb_puts(b, "ENV NODE_ENV=production\n");
		env_port(b, r->port);
		sb_puts(b, "WORKDIR /app\n");
		if (manifest) {
			sb_puts(b, "# the dependencies before the code: a change to the code alone reuses this layer\n");
			sb_puts(b, "COPY package*.json ./\n");
			sb_printf(b, "RUN npm install --no-audit --no-fund%s\n", dev ? "" : " --omit=dev");
		}
		sb_puts(b, "COPY . .\n");
		sb_cmd(b, cmd);
	}
	sb_puts(&o->ignore, "node_modules\nnpm-debug.log\n");
	o->sync[0] = "!**/package.json";
	o->kill[0] = "node";
	o->runtime_kill = true;
	memcpy(o->cmd, cmd, 3 * sizeof(*cmd));
}

static void gen_python(const struct azds_prep *r, struct lang_out *o)
{
	const struct azds_project *p = &r->proj;
	/* python3: in the python images and on a host (where "python" may not exist) alike */
	const char *cmd[] = { "python3", p->entry, NULL, NULL, NULL };
	int n = 0;

	if (p->py_django) {
		snprintf(o->str[0], sizeof(o->str[0]), "0.0.0.0:%u", r->port);
		cmd[2] = "runserver";
		cmd[3] = o->str[0];
	}
	for (int dev = 0; dev < 2; dev++) {
		struct sb *b = dev ? &o->develop : &o->docker;

		header(b, r, dev);
		sb_puts(b, "FROM python:3.11\n");
		/* output reaches azds up's stream as it is written, not when a buffer fills */
		sb_puts(b, "ENV PYTHONUNBUFFERED=1\n");
		env_port(b, r->port);
		sb_puts(b, "WORKDIR /app\n");
		if (p->py_requirements) {
			sb_puts(b, "COPY requirements.txt ./\n");
			sb_puts(b, "RUN pip install --no-cache-dir -r requirements.txt\n");
			sb_puts(b, "COPY . .\n");
		} else if (p->py_pyproject || p->py_setup) {
			sb_puts(b, "COPY . .\n");
			sb_printf(b, "RUN pip install --no-cache-dir %s.\n", dev ? "-e " : "");
		} else {
			sb_puts(b, "COPY . .\n");
			/* no dependencies declared: compiling is the build, and it fails on a syntax error */
			sb_puts(b, "RUN python3 -m compileall -q .\n");
		}
		sb_cmd(b, cmd);
	}
	sb_puts(&o->ignore, "__pycache__\n**/__pycache__\n*.pyc\n.venv\nvenv\n.pytest_cache\n");
	if (p->py_requirements)
		o->sync[n++] = "!**/requirements.txt";
	if (p->py_pyproject)
		o->sync[n++] = "!**/pyproject.toml";
	if (p->py_setup)
		o->sync[n++] = "!**/setup.py";
	if (!n)
		o->sync[n++] = "!**/__pycache__/**";
	o->kill[0] = "python3";
	o->runtime_kill = true;
	memcpy(o->cmd, cmd, sizeof(cmd));
	/* a syntax error fails the build, and the running version keeps serving */
	memcpy(o->build, (const char *[]){ "python3", "-m", "compileall", "-q", ".", NULL }, 6 * sizeof(char *));
}

static void gen_go(const struct azds_prep *r, struct lang_out *o)
{
	const struct azds_project *p = &r->proj;
	const char *prog = r->proj.name, *image = p->version[0] ? p->version : "1";
	bool mod = p->marker[0] != 0;

	snprintf(o->str[0], sizeof(o->str[0]), "./%s", prog);
	header(&o->docker, r, false);
	sb_printf(&o->docker, "FROM golang:%s AS build\nWORKDIR /src\n", image);
	if (mod)
		sb_puts(&o->docker, "COPY go.* ./\nRUN go mod download\n");
	sb_printf(&o->docker,
		  "COPY . .\n"
		  "# static, so that it runs on the slim image below\n"
		  "RUN CGO_ENABLED=0 go build -o /out/%s .\n\n"
		  "FROM debian:bookworm-slim\n"
		  "WORKDIR /app\n"
		  "COPY --from=build /out/%s ./%s\n",
		  prog, prog, prog);
	env_port(&o->docker, r->port);
	sb_cmd(&o->docker, (const char *[]){ o->str[0], NULL });

	header(&o->develop, r, true);
	sb_printf(&o->develop, "FROM golang:%s\n", image);
	env_port(&o->develop, r->port);
	sb_puts(&o->develop, "WORKDIR /src\n");
	if (mod)
		sb_puts(&o->develop, "COPY go.* ./\nRUN go mod download\n");
	sb_printf(&o->develop, "COPY . .\nRUN go build -o %s .\n", prog);
	sb_cmd(&o->develop, (const char *[]){ o->str[0], NULL });

	o->sync[0] = "!**/go.mod";
	o->sync[1] = "!**/go.sum";
	o->kill[0] = prog;
	o->cmd[0] = o->str[0];
	memcpy(o->build, (const char *[]){ "go", "build", "-o", prog, ".", NULL }, 6 * sizeof(char *));
}

static void gen_java(const struct azds_prep *r, struct lang_out *o)
{
	const struct azds_project *p = &r->proj;
	const char *jdk = p->version;
	bool glob = strchr(p->jar, '*') != NULL;

	/* a jar named by a glob runs through sh; one named exactly runs directly */
	snprintf(o->str[0], sizeof(o->str[0]), "exec java -jar %s", p->jar);
	header(&o->docker, r, false);
	sb_printf(&o->docker,
		  "FROM maven:3-eclipse-temurin-%s AS build\n"
		  "WORKDIR /src\n"
		  "# the dependencies before the code: a change to the code alone reuses this layer\n"
		  "COPY pom.xml ./\n"
		  "RUN mvn -B -q dependency:go-offline\n"
		  "COPY . .\n"
		  "RUN mvn -B -q package -DskipTests && cp %s /app.jar\n\n"
		  "FROM eclipse-temurin:%s-jre\n"
		  "WORKDIR /app\n"
		  "COPY --from=build /app.jar ./app.jar\n"
		  "# Spring Boot reads SERVER_PORT\n"
		  "ENV SERVER_PORT=%u\n",
		  jdk, p->jar, jdk, r->port);
	env_port(&o->docker, r->port);
	sb_cmd(&o->docker, (const char *[]){ "java", "-jar", "app.jar", NULL });

	header(&o->develop, r, true);
	sb_printf(&o->develop, "FROM maven:3-eclipse-temurin-%s\nENV SERVER_PORT=%u\n", jdk, r->port);
	env_port(&o->develop, r->port);
	sb_puts(&o->develop, "WORKDIR /src\n"
			     "COPY pom.xml ./\n"
			     "RUN mvn -B -q dependency:go-offline\n"
			     "COPY . .\n"
			     "RUN mvn -B -q package -DskipTests\n");
	if (glob) {
		sb_cmd(&o->develop, (const char *[]){ "sh", "-c", o->str[0], NULL });
		memcpy(o->cmd, (const char *[]){ "sh", "-c", o->str[0], NULL }, 4 * sizeof(char *));
	} else {
		sb_cmd(&o->develop, (const char *[]){ "java", "-jar", p->jar, NULL });
		memcpy(o->cmd, (const char *[]){ "java", "-jar", p->jar, NULL }, 4 * sizeof(char *));
	}
	sb_puts(&o->ignore, "target\n.classpath\n.project\n.settings\n");
	o->sync[0] = "!**/pom.xml";
	o->kill[0] = "java";
	o->runtime_kill = true;
	/* offline: the develop image has the dependencies; a new one needs a new image (pom.xml is not synced) */
	memcpy(o->build, (const char *[]){ "mvn", "-B", "-q", "-o", "package", "-DskipTests", NULL },
	       7 * sizeof(char *));
}

static void gen_dotnet(const struct azds_prep *r, struct lang_out *o)
{
	const struct azds_project *p = &r->proj;
	const char *proj = p->project_file, *v = p->version;

	snprintf(o->str[0], sizeof(o->str[0]), "%s.dll", p->program);
	header(&o->docker, r, false);
	sb_printf(&o->docker,
		  "FROM mcr.microsoft.com/dotnet/sdk:%s AS build\n"
		  "WORKDIR /src\n"
		  "# the dependencies before the code: a change to the code alone reuses this layer\n"
		  "COPY [\"%s\", \"./\"]\n"
		  "RUN dotnet restore \"%s\"\n"
		  "COPY . .\n"
		  "RUN dotnet publish \"%s\" -c Release -o /app/publish --no-restore\n\n"
		  "FROM mcr.microsoft.com/dotnet/aspnet:%s\n"
		  "WORKDIR /app\n"
		  "COPY --from=build /app/publish .\n"
		  "ENV ASPNETCORE_URLS=http://+:%u\n",
		  v, proj, proj, proj, v, r->port);
	env_port(&o->docker, r->port);
	sb_cmd(&o->docker, (const char *[]){ "dotnet", o->str[0], NULL });

	header(&o->develop, r, true);
	sb_printf(&o->develop,
		  "FROM mcr.microsoft.com/dotnet/sdk:%s\n"
		  "ARG BUILD_CONFIGURATION=Debug\n"
		  "ENV ASPNETCORE_ENVIRONMENT=Development\n"
		  "ENV ASPNETCORE_URLS=http://+:%u\n",
		  v, r->port);
	env_port(&o->develop, r->port);
	sb_printf(&o->develop,
		  "WORKDIR /src\n"
		  "COPY [\"%s\", \"./\"]\n"
		  "RUN dotnet restore \"%s\"\n"
		  "COPY . .\n"
		  "RUN dotnet build \"%s\" --no-restore -c $BUILD_CONFIGURATION\n"
		  "# azds.yaml's command runs it with the configuration the build used\n",
		  proj, proj, proj);
	sb_cmd(&o->develop,
	       (const char *[]){ "dotnet", "run", "--no-restore", "--no-build", "--no-launch-profile", "-c", "Debug", NULL });
	sb_puts(&o->ignore, "**/bin\n**/obj\n**/*.*proj.user\n");
	o->sync[0] = "!**/*.sln";
	o->sync[1] = "!**/*.csproj";
	o->sync[2] = "!**/*.fsproj";
	o->kill[0] = "dotnet";
	o->runtime_kill = true;
	o->args = true;
	memcpy(o->cmd,
	       (const char *[]){ "dotnet", "run", "--no-restore", "--no-build", "--no-launch-profile", "-c",
				 "${BUILD_CONFIGURATION:-Debug}", NULL },
	       8 * sizeof(char *));
	memcpy(o->build, (const char *[]){ "dotnet", "build", "--no-restore", "-c", "${BUILD_CONFIGURATION:-Debug}", NULL },
	       6 * sizeof(char *));
}

/* C: make, or cmake (which the gcc image lacks, and a host may already have) */
static void gen_c(const struct azds_prep *r, struct lang_out *o, bool cmake)
{
	const struct azds_project *p = &r->proj;
	const char *prog = p->program, *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
	static const char *const get_cmake =
		"RUN command -v cmake >/dev/null || (apt-get update && apt-get install -y --no-install-recommends "
		"cmake && rm -rf /var/lib/apt/lists/*)\n";

	snprintf(o->str[0], sizeof(o->str[0]), "%s%s", cmake ? "build/" : "", prog);
	snprintf(o->str[1], sizeof(o->str[1]), "./%.380s", o->str[0]);
	snprintf(o->str[2], sizeof(o->str[2]), "./%.380s", base);
	header(&o->docker, r, false);
	sb_puts(&o->docker, "FROM gcc:13 AS build\n");
	if (cmake)
		sb_puts(&o->docker, get_cmake);
	sb_puts(&o->docker, "WORKDIR /src\nCOPY . .\n");
	sb_puts(&o->docker, cmake ? "RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build\n"
				  : "RUN make\n");
	/* the same Debian release as the gcc image: its C library is the one the program links */
	sb_printf(&o->docker, "\nFROM debian:bookworm-slim\nWORKDIR /app\nCOPY --from=build /src/%s ./%s\n", o->str[0],
		  base);
	env_port(&o->docker, r->port);
	sb_cmd(&o->docker, (const char *[]){ o->str[2], NULL });

	header(&o->develop, r, true);
	sb_puts(&o->develop, "FROM gcc:13\n");
	if (cmake)
		sb_puts(&o->develop, get_cmake);
	env_port(&o->develop, r->port);
	sb_puts(&o->develop, "WORKDIR /src\nCOPY . .\n");
	sb_puts(&o->develop, cmake ? "RUN cmake -S . -B build && cmake --build build\n" : "RUN make\n");
	sb_cmd(&o->develop, (const char *[]){ o->str[1], NULL });

	sb_puts(&o->ignore, "*.o\n");
	if (cmake)
		sb_puts(&o->ignore, "build\n");
	else if (!strchr(prog, '/'))
		sb_printf(&o->ignore, "%s\n", prog);
	o->sync[0] = "!**/*.o";
	if (cmake)
		o->sync[1] = "!build/**";
	o->kill[0] = base;
	o->cmd[0] = o->str[1];
	if (cmake)
		memcpy(o->build, (const char *[]){ "cmake", "--build", "build", NULL }, 4 * sizeof(char *));
	else
		o->build[0] = "make";
}

static void gen_lang(const struct azds_prep *r, struct lang_out *o)
{
	switch (r->proj.lang) {
	case AZDS_LANG_NODE:
		gen_node(r, o);
		break;
	case AZDS_LANG_PYTHON:
		gen_python(r, o);
		break;
	case AZDS_LANG_GO:
		gen_go(r, o);
		break;
	case AZDS_LANG_JAVA:
		gen_java(r, o);
		break;
	case AZDS_LANG_DOTNET:
		gen_dotnet(r, o);
		break;
	case AZDS_LANG_C_CMAKE:
	case AZDS_LANG_C_MAKE:
		gen_c(r, o, r->proj.lang == AZDS_LANG_C_CMAKE);
		break;
	default:
		break;
	}
}

unsigned azds_prep_default_port(enum azds_lang l)
{
	/* Dev Spaces' prep: 80 everywhere (ENV PORT 80 for Node), 8080 for Java */
	return l == AZDS_LANG_JAVA ? 8080 : 80;
}

/* azds.yaml ---------------------------------------------------------------- */

static void gen_azds_yaml(struct sb *b, const struct azds_prep *r, const struct lang_out *o, bool develop_file)
{
	const char *n = r->proj.name;

	sb_printf(b, "# Generated by azds prep for %s (%s). azds up reads it; azds prep never\n", n,
		  azds_lang_name(r->proj.lang));
	sb_puts(b, "# overwrites it. The keys are Dev Spaces' (azds: docs/azds-yaml.md).\n");
	sb_printf(b,
		  "kind: helm-release\n"
		  "apiVersion: 1.1\n"
		  "build:\n"
		  "  context: .\n"
		  "  dockerfile: Dockerfile\n"
		  "install:\n"
		  "  chart: charts/%s\n"
		  "  values:\n"
		  "  - values.dev.yaml?\n"
		  "  - secrets.dev.yaml?\n"
		  "  set:\n"
		  "    replicaCount: 1\n"
		  "    image:\n"
		  "      repository: ",
		  n);
	sb_yaml(b, n);
	sb_printf(b,
		  "\n"
		  "      tag: $(tag)\n"
		  "      pullPolicy: Never\n"
		  "    ingress:\n"
		  "      hosts:\n"
		  "      # This expands to [<space>.s.][<root space>.]%s<host suffix>: change the %s\n"
		  "      # between $(rootSpacePrefix) and $(hostSuffix) to change the service's address\n"
		  "      - $(spacePrefix)$(rootSpacePrefix)%s$(hostSuffix)\n"
		  "configurations:\n"
		  "  develop:\n"
		  "    build:\n",
		  n, n, n);
	if (develop_file)
		sb_puts(b, "      dockerfile: Dockerfile.develop\n");
	sb_puts(b, "      useGitIgnore: true\n");
	if (o->args && r->own_develop)
		sb_puts(b, "      args:\n        BUILD_CONFIGURATION: \"${BUILD_CONFIGURATION:-Debug}\"\n");
	sb_puts(b, "    container:\n      sync:\n");
	for (int i = 0; o->sync[i]; i++) {
		sb_puts(b, "      - ");
		sb_yaml(b, o->sync[i]);
		sb_puts(b, "\n");
	}
	/* the command and the build commands fit the generated Dockerfile.develop only */
	if (r->own_develop && o->cmd[0]) {
		sb_puts(b, "      command: ");
		sb_yaml_flow(b, o->cmd);
		sb_puts(b, "\n");
	}
	if (r->own_develop || o->runtime_kill) {
		sb_puts(b, "      iterate:\n        processesToKill: ");
		sb_yaml_flow(b, o->kill);
		sb_puts(b, "\n");
		if (r->own_develop && o->build[0]) {
			sb_puts(b, "        buildCommands:\n        - ");
			sb_yaml_flow(b, o->build);
			sb_puts(b, "\n");
		}
	}
}

/* the chart ---------------------------------------------------------------- */

static const char chart_yaml[] = "# Generated by azds prep. azds prep never overwrites this file.\n"
				 "apiVersion: v2\n"
				 "name: @NAMEQ@\n"
				 "description: A Helm chart for @NAME@, written by azds prep\n"
				 "type: application\n"
				 "version: 0.1.0\n"
				 "appVersion: \"1.0\"\n";

static const char values_yaml[] =
	"# Default values for @NAME@ (charts/@NAME@), written by azds prep, which never\n"
	"# overwrites this file. azds.yaml's install.set replaces some of them in a space:\n"
	"# the image's tag and pull policy, and the ingress hosts.\n"
	"nameOverride: \"\"\n"
	"fullnameOverride: @NAMEQ@\n"
	"replicaCount: 1\n"
	"image:\n"
	"  repository: @NAMEQ@\n"
	"  tag: latest\n"
	"  pullPolicy: IfNotPresent\n"
	"imagePullSecrets: []\n"
	"service:\n"
	"  type: ClusterIP\n"
	"  # the service's port; the program listens on the container's (templates/deployment.yaml)\n"
	"  port: 80\n"
	"probes:\n"
	"  enabled: false\n"
	"ingress:\n"
	"  # azds prep --enable-ingress writes true\n"
	"  enabled: @INGRESS@\n"
	"  className: \"\"\n"
	"  annotations: {}\n"
	"  path: /\n"
	"  # with no hosts, the ingress answers every host\n"
	"  hosts: []\n"
	"  tls: []\n"
	"# secrets.dev.yaml (never committed) may add secrets: a secret \"db\" with a key\n"
	"# \"password\" reaches the program as the variable db_password\n"
	"secrets: {}\n"
	"resources: {}\n"
	"nodeSelector: {}\n"
	"tolerations: []\n"
	"affinity: {}\n";

static const char helmignore[] = "# Files helm package leaves out (written by azds prep).\n"
				 ".DS_Store\n"
				 ".git/\n"
				 ".gitignore\n"
				 ".hg/\n"
				 ".svn/\n"
				 "*.swp\n"
				 "*.bak\n"
				 "*.tmp\n"
				 "*~\n"
				 ".idea/\n"
				 ".vscode/\n";

static const char helpers_tpl[] =
	"{{/* Generated by azds prep. Names are DNS labels: 63 characters at most. */}}\n"
	"\n"
	"{{/* The chart's name, or .Values.nameOverride. */}}\n"
	"{{- define \"@NAME@.name\" -}}\n"
	"{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix \"-\" -}}\n"
	"{{- end -}}\n"
	"\n"
	"{{/* The objects' name: .Values.fullnameOverride, else the release's name with the chart's. */}}\n"
	"{{- define \"@NAME@.fullname\" -}}\n"
	"{{- if .Values.fullnameOverride -}}\n"
	"{{- .Values.fullnameOverride | trunc 63 | trimSuffix \"-\" -}}\n"
	"{{- else -}}\n"
	"{{- $name := default .Chart.Name .Values.nameOverride -}}\n"
	"{{- if contains $name .Release.Name -}}\n"
	"{{- .Release.Name | trunc 63 | trimSuffix \"-\" -}}\n"
	"{{- else -}}\n"
	"{{- printf \"%s-%s\" .Release.Name $name | trunc 63 | trimSuffix \"-\" -}}\n"
	"{{- end -}}\n"
	"{{- end -}}\n"
	"{{- end -}}\n"
	"\n"
	"{{/* The chart's name and version, for the helm.sh/chart label. */}}\n"
	"{{- define \"@NAME@.chart\" -}}\n"
	"{{- printf \"%s-%s\" .Chart.Name .Chart.Version | replace \"+\" \"_\" | trunc 63 | trimSuffix \"-\" -}}\n"
	"{{- end -}}\n"
	"\n"
	"{{/* The labels a selector matches: they never change for a release. */}}\n"
	"{{- define \"@NAME@.selectorLabels\" -}}\n"
	"app.kubernetes.io/name: {{ include \"@NAME@.name\" . }}\n"
	"app.kubernetes.io/instance: {{ .Release.Name }}\n"
	"{{- end -}}\n"
	"\n"
	"{{/* Every object's labels. */}}\n"
	"{{- define \"@NAME@.labels\" -}}\n"
	"helm.sh/chart: {{ include \"@NAME@.chart\" . }}\n"
	"{{ include \"@NAME@.selectorLabels\" . }}\n"
	"app.kubernetes.io/managed-by: {{ .Release.Service }}\n"
	"{{- end -}}\n";

static const char deployment_yaml[] =
	"{{- /* Generated by azds prep, which never overwrites this file. */ -}}\n"
	"apiVersion: apps/v1\n"
	"kind: Deployment\n"
	"metadata:\n"
	"  name: {{ include \"@NAME@.fullname\" . }}\n"
	"  labels:\n"
	"    {{- include \"@NAME@.labels\" . | nindent 4 }}\n"
	"spec:\n"
	"  replicas: {{ .Values.replicaCount }}\n"
	"  selector:\n"
	"    matchLabels:\n"
	"      {{- include \"@NAME@.selectorLabels\" . | nindent 6 }}\n"
	"  template:\n"
	"    metadata:\n"
	"      labels:\n"
	"        {{- include \"@NAME@.selectorLabels\" . | nindent 8 }}\n"
	"      annotations:\n"
	"        buildID: {{ .Values.buildID | default \"\" | quote }}\n"
	"    spec:\n"
	"      {{- with .Values.imagePullSecrets }}\n"
	"      imagePullSecrets:\n"
	"        {{- toYaml . | nindent 8 }}\n"
	"      {{- end }}\n"
	"      containers:\n"
	"        - name: {{ .Chart.Name }}\n"
	"          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n"
	"          imagePullPolicy: {{ .Values.image.pullPolicy }}\n"
	"          ports:\n"
	"            - name: http\n"
	"              containerPort: @PORT@\n"
	"              protocol: TCP\n"
	"          {{- if .Values.probes.enabled }}\n"
	"          livenessProbe:\n"
	"            httpGet:\n"
	"              path: /\n"
	"              port: http\n"
	"          readinessProbe:\n"
	"            httpGet:\n"
	"              path: /\n"
	"              port: http\n"
	"          {{- end }}\n"
	"          env:\n"
	"            - name: PORT\n"
	"              value: \"@PORT@\"\n"
	"            {{- $root := . }}\n"
	"            {{- range $ref, $values := .Values.secrets }}\n"
	"            {{- range $key, $value := $values }}\n"
	"            - name: {{ $ref }}_{{ $key }}\n"
	"              valueFrom:\n"
	"                secretKeyRef:\n"
	"                  name: {{ include \"@NAME@.fullname\" $root }}-{{ $ref | lower }}\n"
	"                  key: {{ $key }}\n"
	"            {{- end }}\n"
	"            {{- end }}\n"
	"          resources:\n"
	"            {{- toYaml .Values.resources | nindent 12 }}\n"
	"      {{- with .Values.nodeSelector }}\n"
	"      nodeSelector:\n"
	"        {{- toYaml . | nindent 8 }}\n"
	"      {{- end }}\n"
	"      {{- with .Values.affinity }}\n"
	"      affinity:\n"
	"        {{- toYaml . | nindent 8 }}\n"
	"      {{- end }}\n"
	"      {{- with .Values.tolerations }}\n"
	"      tolerations:\n"
	"        {{- toYaml . | nindent 8 }}\n"
	"      {{- end }}\n";

static const char service_yaml[] = "{{- /* Generated by azds prep, which never overwrites this file. */ -}}\n"
				   "apiVersion: v1\n"
				   "kind: Service\n"
				   "metadata:\n"
				   "  name: {{ include \"@NAME@.fullname\" . }}\n"
				   "  labels:\n"
				   "    {{- include \"@NAME@.labels\" . | nindent 4 }}\n"
				   "spec:\n"
				   "  type: {{ .Values.service.type }}\n"
				   "  ports:\n"
				   "    - port: {{ .Values.service.port }}\n"
				   "      targetPort: http\n"
				   "      protocol: TCP\n"
				   "      name: http\n"
				   "  selector:\n"
				   "    {{- include \"@NAME@.selectorLabels\" . | nindent 4 }}\n";

static const char ingress_yaml[] =
	"{{- /* Generated by azds prep, which never overwrites this file. */ -}}\n"
	"{{- if .Values.ingress.enabled -}}\n"
	"{{- $fullName := include \"@NAME@.fullname\" . -}}\n"
	"{{- $path := .Values.ingress.path | default \"/\" -}}\n"
	"apiVersion: networking.k8s.io/v1\n"
	"kind: Ingress\n"
	"metadata:\n"
	"  name: {{ $fullName }}\n"
	"  labels:\n"
	"    {{- include \"@NAME@.labels\" . | nindent 4 }}\n"
	"  {{- with .Values.ingress.annotations }}\n"
	"  annotations:\n"
	"    {{- toYaml . | nindent 4 }}\n"
	"  {{- end }}\n"
	"spec:\n"
	"  {{- if .Values.ingress.className }}\n"
	"  ingressClassName: {{ .Values.ingress.className }}\n"
	"  {{- end }}\n"
	"  {{- with .Values.ingress.tls }}\n"
	"  tls:\n"
	"    {{- toYaml . | nindent 4 }}\n"
	"  {{- end }}\n"
	"  rules:\n"
	"    {{- /* no hosts: one rule without a host, which every host matches */}}\n"
	"    {{- range (.Values.ingress.hosts | default (list \"\")) }}\n"
	"    - {{- if . }}\n"
	"      host: {{ . | quote }}\n"
	"      {{- end }}\n"
	"      http:\n"
	"        paths:\n"
	"          - path: {{ $path }}\n"
	"            pathType: Prefix\n"
	"            backend:\n"
	"              service:\n"
	"                name: {{ $fullName }}\n"
	"                port:\n"
	"                  name: http\n"
	"    {{- end }}\n"
	"{{- end }}\n";

static const char secrets_yaml[] = "{{- /* Generated by azds prep: one Secret per entry of .Values.secrets. */ -}}\n"
				   "{{- $root := . }}\n"
				   "{{- range $name, $values := .Values.secrets }}\n"
				   "---\n"
				   "apiVersion: v1\n"
				   "kind: Secret\n"
				   "metadata:\n"
				   "  name: {{ include \"@NAME@.fullname\" $root }}-{{ $name | lower }}\n"
				   "  labels:\n"
				   "    {{- include \"@NAME@.labels\" $root | nindent 4 }}\n"
				   "data:\n"
				   "  {{- range $key, $value := $values }}\n"
				   "  {{ $key }}: {{ $value | toString | b64enc }}\n"
				   "  {{- end }}\n"
				   "{{- end }}\n";

static const char dockerignore_common[] = "# Written by azds prep: what docker build and azds up's sync leave out.\n"
					  ".dockerignore\n"
					  ".git\n"
					  ".gitignore\n"
					  ".vs\n"
					  ".vscode\n"
					  "azds.yaml\n"
					  "charts\n"
					  "Dockerfile\n"
					  "Dockerfile.develop\n"
					  "secrets.dev.yaml\n"
					  "values.dev.yaml\n";

/* planning ------------------------------------------------------------------ */

const char *azds_prep_action_name(enum azds_prep_action a)
{
	static const char *const names[] = { "will write", "wrote", "kept", "skipped" };

	return a <= AZDS_PREP_SKIPPED ? names[a] : "?";
}

const struct azds_prep_file *azds_prep_find(const struct azds_prep *r, const char *path)
{
	for (int i = 0; i < r->nfiles; i++)
		if (!strcmp(r->files[i].path, path))
			return &r->files[i];
	return NULL;
}

void azds_prep_free(struct azds_prep *r)
{
	for (int i = 0; i < r->nfiles; i++) {
		free(r->files[i].text);
		r->files[i].text = NULL;
	}
	r->nfiles = 0;
}

static bool exists(int dfd, const char *path)
{
	struct stat st;

	return !fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) || errno != ENOENT;
}

/* each folder on the chart's way is a folder, or missing */
static int check_dirs(int dfd, const struct azds_prep *r, struct azds_err *e)
{
	char path[3][192];
	struct stat st;

	snprintf(path[0], sizeof(path[0]), "charts");
	snprintf(path[1], sizeof(path[1]), "charts/%s", r->proj.name);
	snprintf(path[2], sizeof(path[2]), "charts/%s/templates", r->proj.name);
	for (int i = 0; i < 3; i++)
		if (!fstatat(dfd, path[i], &st, 0) && !S_ISDIR(st.st_mode))
			return azds_err(e, ENOTDIR, "%s/%s exists and is not a folder: the chart cannot go there",
					r->proj.dir, path[i]);
	return 0;
}

static int add_file(struct azds_prep *r, int dfd, const char *path, struct sb *text, bool chart_theirs,
		    const char *skip_why, struct azds_err *e)
{
	struct azds_prep_file *f = &r->files[r->nfiles];

	if (r->nfiles >= AZDS_PREP_FILES_MAX)
		return azds_err(e, E2BIG, "azds prep: more than %d files planned", AZDS_PREP_FILES_MAX);
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->text = sb_take(text);
	if (!f->text)
		return azds_err(e, ENOMEM, "out of memory");
	r->nfiles++;
	if (exists(dfd, path)) {
		f->action = AZDS_PREP_KEPT;
		snprintf(f->why, sizeof(f->why), "exists");
	} else if (chart_theirs) {
		f->action = AZDS_PREP_SKIPPED;
		snprintf(f->why, sizeof(f->why), "charts/%s/Chart.yaml exists: the chart is yours", r->proj.name);
	} else if (skip_why) {
		f->action = AZDS_PREP_SKIPPED;
		snprintf(f->why, sizeof(f->why), "%s", skip_why);
	} else {
		f->action = AZDS_PREP_PLANNED;
	}
	return 0;
}

/* a chart file: sub is its path inside charts/<name>/ */
static int add_rendered(struct azds_prep *r, int dfd, const char *sub, const char *tpl, const struct var *v,
			size_t nv, bool chart_theirs, struct azds_err *e)
{
	struct sb b = { 0 };
	char path[192];

	snprintf(path, sizeof(path), "charts/%s/%s", r->proj.name, sub);
	sb_render(&b, tpl, v, nv);
	return add_file(r, dfd, path, &b, chart_theirs, NULL, e);
}

/* the file starts with the header this run would write (same service, same language) */
static bool generated_here(int dfd, const char *file, const struct azds_prep *r)
{
	char want[256], got[256] = "";
	int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, got, sizeof(got) - 1);
	close(fd);
	if (n <= 0)
		return false;
	got[n] = 0;
	snprintf(want, sizeof(want), "# Generated by azds prep for %s (%s)", r->proj.name, azds_lang_name(r->proj.lang));
	return !strncmp(got, want, strlen(want)) && strchr(".:", got[strlen(want)]);
}

static int name_and_port(const struct azds_prep_opts *o, struct azds_prep *r, struct azds_err *e)
{
	struct azds_project *p = &r->proj;

	if (o->name) {
		int err = azds_label_valid("--name", o->name, e);

		if (err)
			return err;
		snprintf(p->name, sizeof(p->name), "%s", o->name);
		snprintf(p->name_from, sizeof(p->name_from), "--name");
	} else if (!p->name[0]) {
		return azds_err(e, EINVAL, "%s: cannot derive a service name (%s): give one with --name", p->dir,
				p->name_from);
	}
	/* Go's program is named for the service; the others' come from the project */
	if (p->lang == AZDS_LANG_GO)
		snprintf(p->program, sizeof(p->program), "%s", p->name);
	r->port = o->port ? o->port : azds_prep_default_port(p->lang);
	if (r->port > 65535)
		return azds_err(e, EINVAL, "--port %u: must be 1-65535", r->port);
	return 0;
}

int azds_prep_plan(const struct azds_prep_opts *o, struct azds_prep *r, struct azds_err *e)
{
	struct lang_out lo = { 0 };
	struct sb b = { 0 };
	char nameq[96], port[16], chartfile[192];
	bool chart_theirs, df, dfd_dev, df_ours, dev_ours;
	int dfd, err;

	memset(r, 0, sizeof(*r));
	err = azds_detect(o->dir, o->lang, &r->proj, e);
	if (err)
		return err;
	err = name_and_port(o, r, e);
	if (err)
		return err;
	r->ingress = o->ingress;
	dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return azds_err(e, errno, "cannot open folder %s: %s", o->dir, strerror(errno));
	err = check_dirs(dfd, r, e);
	if (err)
		goto out;
	snprintf(chartfile, sizeof(chartfile), "charts/%s/Chart.yaml", r->proj.name);
	chart_theirs = exists(dfd, chartfile);
	df = exists(dfd, "Dockerfile");
	dfd_dev = exists(dfd, "Dockerfile.develop");
	/* Dockerfiles an earlier run wrote count as generated: a deleted azds.yaml comes back whole */
	df_ours = df && generated_here(dfd, "Dockerfile", r);
	dev_ours = dfd_dev && generated_here(dfd, "Dockerfile.develop", r);
	r->own_develop = dfd_dev ? dev_ours : !df || df_ours;

	gen_lang(r, &lo);
	err = add_file(r, dfd, "Dockerfile", &lo.docker, false, NULL, e);
	if (!err)
		err = add_file(r, dfd, "Dockerfile.develop", &lo.develop, false,
			       df && !df_ours ? "Dockerfile exists: azds.yaml develops with it" : NULL, e);
	if (!err) {
		sb_puts(&b, dockerignore_common);
		sb_add(&b, lo.ignore.p ? lo.ignore.p : "", lo.ignore.len);
		err = add_file(r, dfd, ".dockerignore", &b, false, NULL, e);
	}
	if (!err) {
		gen_azds_yaml(&b, r, &lo, r->own_develop || dfd_dev);
		err = add_file(r, dfd, "azds.yaml", &b, false, NULL, e);
	}
	if (!err) {
		struct sb q = { 0 };

		sb_yaml(&q, r->proj.name);
		snprintf(nameq, sizeof(nameq), "%s", q.p ? q.p : r->proj.name);
		free(q.p);
		snprintf(port, sizeof(port), "%u", r->port);
		const struct var v[] = {
			{ "NAME", r->proj.name },
			{ "NAMEQ", nameq },
			{ "PORT", port },
			{ "INGRESS", o->ingress ? "true" : "false" },
		};
		static const struct {
			const char *path, *tpl;
		} chart[] = {
			{ "Chart.yaml", chart_yaml },
			{ "values.yaml", values_yaml },
			{ ".helmignore", helmignore },
			{ "templates/_helpers.tpl", helpers_tpl },
			{ "templates/deployment.yaml", deployment_yaml },
			{ "templates/service.yaml", service_yaml },
			{ "templates/ingress.yaml", ingress_yaml },
			{ "templates/secrets.yaml", secrets_yaml },
		};

		for (size_t i = 0; !err && i < sizeof(chart) / sizeof(chart[0]); i++)
			err = add_rendered(r, dfd, chart[i].path, chart[i].tpl, v, sizeof(v) / sizeof(v[0]),
					   chart_theirs, e);
	}
out:
	free(lo.docker.p);
	free(lo.develop.p);
	free(lo.ignore.p);
	free(b.p);
	close(dfd);
	if (err)
		azds_prep_free(r);
	return err;
}

/* writing ------------------------------------------------------------------- */

/* the folders of path (relative), made as needed */
static int make_parents(int dfd, const char *path)
{
	char buf[192];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdirat(dfd, buf, 0777) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Writes text at path unless something is there. 1: written, 0: kept (it
 * appeared meanwhile), -errno. The temporary file sits in the same folder,
 * so the final rename never crosses file systems.
 */
static int write_new(int dfd, const char *path, const char *text)
{
	static unsigned seq;
	const char *slash = strrchr(path, '/');
	char tmp[256];
	int fd, err;

	snprintf(tmp, sizeof(tmp), "%.*s.azds-prep.%d.%u.tmp", slash ? (int)(slash - path + 1) : 0, path,
		 (int)getpid(), seq++);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	err = write_all(fd, text, strlen(text));
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat2(dfd, tmp, dfd, path, RENAME_NOREPLACE)) {
		err = -errno;
		/* a file system without RENAME_NOREPLACE: link() refuses an existing name too */
		if (err == -EINVAL || err == -ENOSYS)
			err = linkat(dfd, tmp, dfd, path, 0) ? -errno : 0;
	}
	/* gone after a rename; the spare name after a link or a failure */
	unlinkat(dfd, tmp, 0);
	if (err == -EEXIST)
		return 0;
	return err ? err : 1;
}

int azds_prep_write(struct azds_prep *r, struct azds_err *e)
{
	bool any = false;
	int dfd, err = 0;

	for (int i = 0; i < r->nfiles; i++)
		any |= r->files[i].action == AZDS_PREP_PLANNED;
	dfd = open(r->proj.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return azds_err(e, errno, "cannot open folder %s: %s", r->proj.dir, strerror(errno));
	/* before any file, so that a folder nobody may write in gets nothing at all */
	if (any && faccessat(dfd, ".", W_OK, AT_EACCESS)) {
		err = azds_err(e, errno, "cannot write in folder %s: %s", r->proj.dir, strerror(errno));
		goto out;
	}
	for (int i = 0; i < r->nfiles && !err; i++) {
		struct azds_prep_file *f = &r->files[i];
		int w;

		if (f->action != AZDS_PREP_PLANNED)
			continue;
		w = make_parents(dfd, f->path);
		if (!w)
			w = write_new(dfd, f->path, f->text);
		if (w < 0) {
			err = azds_err(e, w, "cannot write %s/%s: %s", r->proj.dir, f->path, strerror(-w));
		} else if (w == 0) {
			f->action = AZDS_PREP_KEPT;
			snprintf(f->why, sizeof(f->why), "exists: it appeared while azds prep ran");
		} else {
			f->action = AZDS_PREP_WROTE;
		}
	}
out:
	r->wrote = r->kept = r->skipped = 0;
	for (int i = 0; i < r->nfiles; i++) {
		r->wrote += r->files[i].action == AZDS_PREP_WROTE;
		r->kept += r->files[i].action == AZDS_PREP_KEPT;
		r->skipped += r->files[i].action == AZDS_PREP_SKIPPED;
	}
	close(dfd);
	return err;
}

int azds_prep_run(const struct azds_prep_opts *o, struct azds_prep *r, struct azds_err *e)
{
	int err = azds_prep_plan(o, r, e);

	return err ? err : azds_prep_write(r, e);
}
