// SPDX-License-Identifier: MIT
/*
 * azds prep: the Dockerfiles, azds.yaml and Helm chart for the project in
 * a folder (userspace/project/prep.c). It works on files alone: no
 * controller needs to run.
 */
#include <errno.h>
#include <string.h>
#include "prep.h"
#include "verbs.h"

static void print_detection(const struct azds_prep *r)
{
	const struct azds_project *p = &r->proj;

	if (p->forced)
		printf("%s (--lang) in %s", azds_lang_name(p->lang), p->dir);
	else
		printf("%s (%s) in %s", azds_lang_name(p->lang), p->marker, p->dir);
	printf(": service \"%s\" (from %s), port %u, ingress %s\n", p->name, p->name_from, r->port,
	       r->ingress ? "on" : "off");
	if (p->nfound > 1)
		printf("note: found %s; %s %s (the first in azds prep's order, docs/prep.md; --lang picks another)\n",
		       p->found, p->forced ? "generating for" : "using", azds_lang_name(p->lang));
	for (int i = 0; i < p->nnotes; i++)
		printf("note: %s\n", p->notes[i]);
	if (p->notes_dropped)
		printf("note: %d more notes not shown\n", p->notes_dropped);
}

static void print_files(const struct azds_prep *r)
{
	for (int i = 0; i < r->nfiles; i++) {
		const struct azds_prep_file *f = &r->files[i];

		if (f->action == AZDS_PREP_PLANNED)
			continue; /* not reached: an earlier file failed */
		printf("%s %s", azds_prep_action_name(f->action), f->path);
		if (f->action != AZDS_PREP_WROTE)
			printf(" (%s)", f->why);
		printf("\n");
	}
}

VERB(cmd_prep)
{
	const char *name = NULL, *lang = NULL;
	bool ingress = false, public = false;
	unsigned long port = 0;
	const struct opt o[] = {
		OPT_F("enable-ingress", 0, &ingress, "turn the chart's ingress on (values.yaml ingress.enabled: true)"),
		OPT_F("public", 0, &public, "the same as --enable-ingress (Dev Spaces' older name)"),
		OPT_S("name", 0, &name, "NAME", "the service's name (default: from the project, else the folder's)"),
		OPT_N("port", 0, &port, "P", "the port the program listens on (default 80; Java 8080)", 1, 65535),
		OPT_C("lang", 0, &lang, "LANG",
		      "the language (node, python, go, java, dotnet, c-cmake, c-make) when detection picks another",
		      azds_lang_keys()),
		OPT_END,
	};
	struct azds_prep_opts po = { 0 };
	struct azds_prep r;
	struct azds_err e = { "" };
	struct args a;
	int err = opts_parse(v, o, argc, argv, &a);

	if (err)
		return opts_exit(err);
	if (name && azds_label_valid("--name", name, &e)) {
		args_free(&a);
		return usage_error(v, "%s", e.msg);
	}
	po.dir = a.npos ? a.pos[0] : ".";
	po.name = name;
	po.port = port;
	po.ingress = ingress || public;
	po.lang = azds_lang_parse(lang);
	err = azds_prep_plan(&po, &r, &e);
	if (err) {
		args_free(&a);
		if (err == -ENOENT && strstr(e.msg, "no project found"))
			return fail("prep: %s: azds prep looks for %s (--lang names the language)", e.msg,
				    azds_detect_looks_for());
		return fail("prep: %s", e.msg);
	}
	print_detection(&r);
	err = azds_prep_write(&r, &e);
	print_files(&r);
	if (err)
		fail("prep: %s", e.msg);
	else if (r.wrote)
		printf("wrote %d, kept %d, skipped %d. Next: azds up%s%s\n", r.wrote, r.kept, r.skipped,
		       a.npos ? " in " : "", a.npos ? po.dir : "");
	else
		printf("nothing written: every file exists (kept %d, skipped %d)\n", r.kept, r.skipped);
	azds_prep_free(&r);
	args_free(&a);
	return err ? EXIT_FAIL : 0;
}
