/* SPDX-License-Identifier: MIT */
/*
 * Which language a developer's folder holds, for azds prep: read from the
 * files at the folder's top level (where a project keeps its manifest),
 * with the few facts the generator needs from that manifest (the service's
 * name, the runtime's version, the program to run). Every read is bounded;
 * nothing here writes.
 *
 * Order when a folder has markers of several languages (the first wins, and
 * the result says what else was found):
 *   .NET (*.csproj, *.fsproj), Java with Maven (pom.xml), Go (go.mod),
 *   Node.js (package.json), Python (requirements.txt, pyproject.toml,
 *   setup.py), C with CMake (CMakeLists.txt), C with Make (Makefile,
 *   makefile, GNUmakefile), and last Python again for *.py files alone.
 * A language's own package manifest beats build glue that any language
 * uses (a Makefile), CMake beats Make (CMake writes Makefiles), and a
 * manifest naming a runtime beats a package.json kept for front-end tools.
 */
#ifndef AZDS_PROJECT_DETECT_H
#define AZDS_PROJECT_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include "azds.h"

#define AZDS_DETECT_SCAN_MAX 10000      /* entries of the folder read, for *.csproj, *.fsproj and *.py */
#define AZDS_DETECT_FILE_MAX (1 << 20)  /* bytes of a manifest read; a bigger one is not read */
#define AZDS_DETECT_NOTES 8             /* notes kept; more are counted in notes_dropped */
#define AZDS_DETECT_NOTE_MAX 320
#define AZDS_LABEL_MAX 63               /* a DNS label */

/* in the order detection prefers them (Python's *.py-only case aside) */
enum azds_lang {
	AZDS_LANG_NONE = 0,
	AZDS_LANG_DOTNET,
	AZDS_LANG_JAVA,
	AZDS_LANG_GO,
	AZDS_LANG_NODE,
	AZDS_LANG_PYTHON,
	AZDS_LANG_C_CMAKE,
	AZDS_LANG_C_MAKE,
	AZDS_LANG_COUNT,
};

struct azds_project {
	enum azds_lang lang;
	char dir[4096];     /* the folder as given */
	char folder[256];   /* the last component of its real path */
	char marker[256];   /* the file that decided: "package.json", "api.csproj", "*.py" */
	char found[640];    /* every language seen, in order: "package.json (Node.js), Makefile (C with Make)" */
	int nfound;         /* languages seen; above 1 the folder was ambiguous */
	bool forced;        /* the language was given, not detected */

	/* the service's name, a DNS label; "" when none could be derived */
	char name[AZDS_LABEL_MAX + 1];
	char name_from[160]; /* where it came from: "package.json \"name\" (@acme/web)", "the folder's name" */

	/* from the manifest, where cheap to read; "" when unknown */
	char project_file[256]; /* .NET: "api.csproj"; Java: "pom.xml" */
	char program[256];      /* .NET: the assembly ("api" for api.dll); C: the binary ("server", "bin/server") */
	char entry[256];        /* Node: package.json "main" when there is no start script; Python: "app.py" */
	char version[32];       /* Go "1.22", Java "17", .NET "8.0" */
	char jar[320];          /* Java: "target/api-1.0.jar", or a glob "target/api-*.jar" when the version is not literal */
	bool node_start;        /* package.json has scripts.start */
	bool py_requirements, py_pyproject, py_setup, py_django;

	char notes[AZDS_DETECT_NOTES][AZDS_DETECT_NOTE_MAX];
	int nnotes, notes_dropped;
};

/* "Node.js"; "?" for none */
const char *azds_lang_name(enum azds_lang l);
/* "node", as --lang takes it */
const char *azds_lang_key(enum azds_lang l);
/* AZDS_LANG_NONE for an unknown key */
enum azds_lang azds_lang_parse(const char *key);
/* "node|python|go|java|dotnet|c-cmake|c-make" */
const char *azds_lang_keys(void);
/* what detection looks for, for the message when it finds nothing */
const char *azds_detect_looks_for(void);

/*
 * Reads dir's top level. lang AZDS_LANG_NONE detects; another language is
 * taken as given (.NET and Java still need their project file). Returns 0,
 * -ENOENT when no language was found (e names the folder), or another
 * -errno when the folder is missing, not a folder, or unreadable.
 */
int azds_detect(const char *dir, enum azds_lang lang, struct azds_project *p, struct azds_err *e);

/*
 * A DNS label from any text: lower case, runs of anything but a-z and 0-9
 * become one '-', none at either end, 63 characters at most, and "app-"
 * in front of a leading digit (Kubernetes wants a service name to start
 * with a letter). out holds at least AZDS_LABEL_MAX + 1 bytes. Returns 0,
 * or -EINVAL when nothing usable is left ("@@@", "").
 */
int azds_dns_label(const char *in, char *out, size_t len);
/* 0 when name is such a label (for --name); else -EINVAL and why */
int azds_label_valid(const char *what, const char *name, struct azds_err *e);

#endif
