/* SPDX-License-Identifier: MIT */
/*
 * Aligned tables as kubectl prints them: a header row, columns as wide as
 * their widest cell, three spaces between them. Columns marked TABLE_WIDE
 * appear only with -o wide.
 */
#ifndef AZDS_CLI_TABLE_H
#define AZDS_CLI_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#define TABLE_WIDE 1u

struct table;

struct table *table_new(void);
/* columns first, then cells row by row: a row ends after its last column */
int table_col(struct table *t, const char *name, unsigned flags);
int table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void table_print(const struct table *t, FILE *f, bool wide);
void table_free(struct table *t);

/* "5s", "3m", "2h", "4d" since a unix time; "-" for none */
const char *table_age(long long since, char *buf, size_t len);

#endif
