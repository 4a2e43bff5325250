/*
 * strip.c - a picture of a file mapping, one column per page (strip.h).
 */
#include "strip.h"
#include "lab.h"
#include "observe.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

enum { CELL = 10 };

/* Append text to line, then spaces up to the next column; a {name=value}
 * token counts as "{name}", the width the harness compares. */
static void cell(char *line, size_t size, const char *text)
{
	size_t len = strlen(line), shown = strlen(text);
	const char *eq = strchr(text, '='), *close = strchr(text, '}');
	if (text[0] == '{' && eq && close)
		shown -= (size_t)(close - eq);
	snprintf(line + len, size - len, "%s%*s", text, shown < CELL ? (int)(CELL - shown) : 1, "");
}

static void say_trimmed(const char *label, char *line)
{
	size_t n = strlen(line);
	while (n > 0 && line[n - 1] == ' ')
		line[--n] = '\0';
	say("%-6s%s", label, line);
}

/* The file row's cell for a page that starts at file offset `from`. */
static void file_cell(char out[CELL + 1], off_t from, off_t size, size_t ps)
{
	memset(out, ' ', CELL);
	out[CELL] = '\0';
	if (size >= from + (off_t)ps) {
		memset(out, '#', CELL);
	} else if (size > from) {
		size_t h = (size_t)(size - from) * CELL / ps;
		h = h < 1 ? 1 : h > CELL - 2 ? CELL - 2 : h;
		memset(out, '#', h);
		out[h] = '|';
		memset(out + h + 1, '.', CELL - h - 1);
	} else if (size == from) {
		out[0] = '|';
	}
}

/* What reading page (file offset `from`) does; eof_at: the byte of the page
 * where the file ends, or ps when the page holds no end of file. */
static const char *touch(const volatile unsigned char *page, size_t ps, size_t eof_at)
{
	struct probe first = probe_read(page), last = probe_read(page + ps - 1);
	if (first.sig != last.sig)
		return "mixed";
	if (first.sig == SIGBUS)
		return "SIGBUS";
	if (first.sig == SIGSEGV)
		return "SIGSEGV";
	if (first.sig != 0)
		return "fault";
	if (eof_at >= ps)
		return "ok";
	for (size_t i = eof_at; i < ps; i++) /* the page is readable: its first byte was */
		if (page[i] != 0)
			return "ok, data";
	return "ok, 0s";
}

void strip_say(const struct strip *s)
{
	size_t ps = page_size(), n = s->columns < STRIP_MAX_COLUMNS ? s->columns : STRIP_MAX_COLUMNS;
	const unsigned char *base = s->base;
	char head[256] = "", file[256] = "", map[256] = "", tch[256] = "", c[CELL + 1], word[48];
	for (size_t i = 0; i < n; i++) {
		off_t from = s->file_offset + (off_t)(i * ps);
		snprintf(word, sizeof word, "page %zu", i + 1);
		cell(head, sizeof head, word);
		file_cell(c, from, s->file_size, ps);
		snprintf(file + strlen(file), sizeof file - strlen(file), "%s", c);
		unsigned char vec;
		errno = 0;
		bool mapped = mincore((void *)(base + i * ps), ps, &vec) == 0;
		if (!mapped && errno != ENOMEM)
			die("mincore");
		snprintf(map + strlen(map), sizeof map - strlen(map), "%s", mapped ? "[========]" : "          ");
		size_t eof_at = s->file_size > from && s->file_size < from + (off_t)ps ? (size_t)(s->file_size - from) : ps;
		const char *t = touch(base + i * ps, ps, eof_at);
		if (s->tail_token && eof_at < ps && !strncmp(t, "ok, ", 4)) {
			snprintf(word, sizeof word, "{tail=%s}", t);
			t = word;
		}
		cell(tch, sizeof tch, t);
	}
	if (s->file_size < s->file_offset)
		snprintf(file, sizeof file, "(the file ends before page 1)");
	strncat(head, "# file byte, | end of file, . rest of its page", sizeof head - strlen(head) - 1);
	say_trimmed("", head);
	say_trimmed("file", file);
	say_trimmed("map", map);
	say_trimmed("touch", tch);
}
