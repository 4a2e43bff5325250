/*
 * options.c - the command-line table of options.h.
 */
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool parse_long(const char *s, long min, long max, long *out)
{
	if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
		return false; /* strtol would also take spaces, '+' and an empty string */
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || errno == ERANGE || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool is_option(const struct lab_option *o)
{
	return strncmp(o->spelling, "--", 2) == 0;
}

/* Whether argument a ("--name" or "--name=value") names option o. */
static bool is_named(const struct lab_option *o, const char *a)
{
	size_t n = strcspn(o->spelling, "=");
	return is_option(o) && strncmp(o->spelling, a, n) == 0 && (a[n] == '\0' || a[n] == '=');
}

static const char *program;
static char usage_line[512];

static void make_usage_line(const struct lab_option *table)
{
	size_t len = (size_t)snprintf(usage_line, sizeof usage_line, "%s", program);
	for (const struct lab_option *o = table; o->spelling && len < sizeof usage_line; o++)
		len += (size_t)snprintf(usage_line + len, sizeof usage_line - len,
					is_option(o) ? " [%s]" : " %s", o->spelling);
}

static _Noreturn void __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "; usage: %s\n", usage_line);
	va_end(ap);
	exit(2);
}

static _Noreturn void help(const struct lab_option *table, const char *about)
{
	int width = 0;
	for (const struct lab_option *o = table; o->spelling; o++)
		if ((int)strlen(o->spelling) > width)
			width = (int)strlen(o->spelling);
	printf("usage: %s\n", usage_line);
	if (about)
		printf("%s\n", about);
	for (const struct lab_option *o = table; o->spelling; o++) {
		printf("  %-*s  %s", width, o->spelling, o->help ? o->help : "");
		if (o->number && is_option(o))
			printf(" (%ld to %ld, default %ld)", o->min, o->max, *o->number);
		else if (o->number)
			printf(" (%ld to %ld)", o->min, o->max);
		else if (o->text && is_option(o) && *o->text)
			printf(" (default \"%s\")", *o->text);
		putchar('\n');
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write the help\n", program);
		exit(2);
	}
	exit(0);
}

static void set(const struct lab_option *o, const char *value)
{
	if (o->text) {
		*o->text = value;
		return;
	}
	if (parse_long(value, o->min, o->max, o->number))
		return;
	if (is_option(o))
		usage_error("%.*s=%s: not a number from %ld to %ld", (int)strcspn(o->spelling, "="), o->spelling,
			    value, o->min, o->max);
	usage_error("%s '%s': not a number from %ld to %ld", o->spelling, value, o->min, o->max);
}

void lab_options(int argc, char **argv, const struct lab_option *table, const char *about)
{
	static const struct lab_option none[] = { { 0 } };
	if (table == NULL)
		table = none;
	program = argc > 0 && argv[0] ? (strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0]) : "lab";
	make_usage_line(table);
	for (const struct lab_option *o = table; o->spelling; o++)
		if (!!o->number + !!o->text + !!o->flag != 1 || (o->flag && (!is_option(o) || strchr(o->spelling, '='))))
			usage_error("the program's own table is wrong at %s", o->spelling);

	const struct lab_option *positional = table; /* the next one to fill */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0)
			help(table, about);
		if (strncmp(a, "--", 2) == 0) {
			const struct lab_option *o = table;
			while (o->spelling && !is_named(o, a))
				o++;
			const char *eq = strchr(a, '=');
			if (!o->spelling)
				usage_error("unknown option %s", a);
			if (o->flag && eq)
				usage_error("%s takes no value", a);
			if (!o->flag && !eq)
				usage_error("%s needs a value: %s", a, o->spelling);
			if (o->flag)
				*o->flag = true;
			else
				set(o, eq + 1);
			continue;
		}
		while (positional->spelling && is_option(positional))
			positional++;
		if (!positional->spelling)
			usage_error("unexpected argument '%s'", a);
		set(positional++, a);
	}
	while (positional->spelling && is_option(positional))
		positional++;
	if (positional->spelling)
		usage_error("missing %s", positional->spelling);
}
