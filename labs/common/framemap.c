/*
 * framemap.c - the frame picture of framemap.h.
 */
#include "framemap.h"
#include "lab.h"
#include "observe.h"

#include <stdio.h>
#include <string.h>

#define LABEL 12 /* width of the row names */
#define CELL 16  /* width of a column */

void fm_reset(struct framemap *m, size_t pages)
{
	memset(m, 0, sizeof *m);
	if (pages < 1 || pages > FM_MAX_PAGES)
		die_msg("framemap: %zu pages, at most %d", pages, FM_MAX_PAGES);
	m->pages = pages;
}

void fm_observe(struct fm_page *out, const void *addr)
{
	struct pagemap pm = pagemap_of(addr);
	memset(out, 0, sizeof *out);
	out->present = pm.present;
	out->file = pm.file_or_shared_anon;
	out->exclusive = pm.exclusive;
	out->pfn = pm.pfn;
}

static int new_frame(struct framemap *m, char kind, int file, int page)
{
	if (m->nframes == FM_MAX_FRAMES)
		die_msg("framemap: more than %d frames", FM_MAX_FRAMES);
	m->frame[m->nframes] = (struct fm_frame){ .kind = kind, .file = file, .page = page };
	return m->nframes++;
}

/* The one frame of a file's page (or of a shared anonymous page). */
static int cache_frame(struct framemap *m, char kind, int file, int page)
{
	for (int f = 0; f < m->nframes; f++)
		if (m->frame[f].kind == kind && m->frame[f].file == file && m->frame[f].page == page)
			return f;
	return new_frame(m, kind, file, page);
}

static struct fm_seen *seen_of(struct framemap *m, const char *who)
{
	for (int i = 0; i < m->nseen; i++)
		if (strcmp(m->seen[i].who, who) == 0)
			return &m->seen[i];
	return NULL;
}

static bool is_anon(const struct framemap *m, int f)
{
	return f >= 0 && (m->frame[f].kind == 'a' || m->frame[f].kind == 'p');
}

static const char *kind_word(char kind)
{
	return kind == 'c' ? "page cache" : kind == 'p' ? "copy" : kind == 's' ? "shared" : "anonymous";
}

/* The letter of one cell from the evidence; *unsure when a write fault may
 * have kept the frame or copied it. */
static int letter_of(struct framemap *m, const struct fm_row *rows, size_t r, size_t i,
		     int letter[][FM_MAX_PAGES], bool *unsure)
{
	const struct fm_page *c = &rows[r].page[i];
	struct fm_seen *s = seen_of(m, rows[r].who);
	int prev = s ? s->letter[i] : -1;
	bool prev_excl = s && s->exclusive[i];
	*unsure = false;
	if (!c->present)
		return -1;
	if (c->file)
		return cache_frame(m, rows[r].file ? 'c' : 's', rows[r].file, (int)i);
	if (c->write_faults == 0 && is_anon(m, prev))
		return prev; /* nothing happened to it */
	if (!c->exclusive) { /* shared with another pictured process: inherited */
		for (size_t r2 = 0; r2 < r; r2++) {
			const struct fm_page *o = &rows[r2].page[i];
			if (o->present && !o->file && !o->exclusive && letter[r2][i] >= 0)
				return letter[r2][i];
		}
		return is_anon(m, prev) ? prev : new_frame(m, rows[r].file ? 'p' : 'a', 0, (int)i);
	}
	if (c->write_faults > 0 && is_anon(m, prev) && prev_excl) {
		*unsure = true; /* the last user wrote: reused, or copied anyway */
		return prev;
	}
	if (c->write_faults > 0)
		return new_frame(m, 'p', 0, (int)i); /* it was shared: a copy */
	return new_frame(m, rows[r].file ? 'p' : 'a', 0, (int)i);
}

static void pad_line(char *line, size_t size, size_t *n, size_t width, const char *text)
{
	if (*n < size)
		*n += (size_t)snprintf(line + *n, size - *n, "%-*s", (int)width, text);
}

static void say_trimmed(char *line)
{
	size_t n = strlen(line);
	while (n > 0 && line[n - 1] == ' ')
		line[--n] = '\0';
	say("%s", line);
}

bool fm_draw(struct framemap *m, const struct fm_row *rows, size_t nrows)
{
	if (nrows > FM_MAX_ROWS)
		die_msg("framemap: %zu rows, at most %d", nrows, FM_MAX_ROWS);
	int letter[FM_MAX_ROWS][FM_MAX_PAGES];
	bool unsure[FM_MAX_ROWS][FM_MAX_PAGES];
	for (size_t r = 0; r < nrows; r++)
		for (size_t i = 0; i < m->pages; i++)
			letter[r][i] = letter_of(m, rows, r, i, letter, &unsure[r][i]);

	char line[256], cell[32];
	size_t n = 0;
	pad_line(line, sizeof line, &n, LABEL, "picture");
	for (size_t i = 0; i < m->pages; i++) {
		snprintf(cell, sizeof cell, "page %zu", i + 1);
		pad_line(line, sizeof line, &n, CELL, cell);
	}
	say_trimmed(line);
	int doubt = -1; /* a letter drawn with "?" */
	for (size_t r = 0; r < nrows; r++) {
		n = 0;
		pad_line(line, sizeof line, &n, LABEL, rows[r].who);
		for (size_t i = 0; i < m->pages; i++) {
			int f = letter[r][i];
			if (f < 0)
				snprintf(cell, sizeof cell, "-");
			else
				snprintf(cell, sizeof cell, "%c%s %s", 'A' + f, unsure[r][i] ? "?" : "",
					 kind_word(m->frame[f].kind));
			if (f >= 0 && unsure[r][i])
				doubt = f;
			pad_line(line, sizeof line, &n, CELL, cell);
		}
		say_trimmed(line);
	}

	/* Frame numbers, when this process may read them: check the letters. */
	bool ok = true, pfns = pagemap_has_pfn();
	char tok[512] = "";
	size_t t = 0;
	bool shown[FM_MAX_FRAMES] = { false };
	for (size_t r = 0; r < nrows && pfns; r++)
		for (size_t i = 0; i < m->pages; i++) {
			int f = letter[r][i];
			uint64_t pfn = rows[r].page[i].pfn;
			if (f < 0 || unsure[r][i])
				continue;
			if (m->frame[f].pfn == 0)
				m->frame[f].pfn = pfn;
			else if (m->frame[f].pfn != pfn)
				ok = false; /* one letter, two frames */
			shown[f] = true;
		}
	for (int f = 0; f < m->nframes && pfns; f++) {
		if (shown[f] && t < sizeof tok)
			t += (size_t)snprintf(tok + t, sizeof tok - t, "%s%c %#llx", t ? ", " : "", 'A' + f,
					      (unsigned long long)m->frame[f].pfn);
		for (int g = f + 1; g < m->nframes; g++)
			if (shown[f] && shown[g] && m->frame[f].pfn == m->frame[g].pfn)
				ok = false; /* two letters, one frame */
	}
	for (size_t r = 0; r < nrows && pfns; r++)
		for (size_t i = 0; i < m->pages; i++)
			if (letter[r][i] >= 0 && unsure[r][i] && t < sizeof tok) {
				int f = letter[r][i];
				uint64_t pfn = rows[r].page[i].pfn;
				if (pfn == m->frame[f].pfn)
					t += (size_t)snprintf(tok + t, sizeof tok - t, "%s%c? is %c %#llx, the same frame",
							      t ? "; " : "", 'A' + f, 'A' + f, (unsigned long long)pfn);
				else
					t += (size_t)snprintf(tok + t, sizeof tok - t, "%s%c? is a new frame %#llx, not %c %#llx",
							      t ? "; " : "", 'A' + f, (unsigned long long)pfn, 'A' + f,
							      (unsigned long long)m->frame[f].pfn);
			}
	if (!ok && t < sizeof tok)
		snprintf(tok + t, sizeof tok - t, "; these frame numbers contradict the letters");
	if (pfns)
		say("%-*s{pfn=%s}", LABEL, "frames", t ? tok : "no page mapped");
	else
		say("%-*s{pfn=unavailable without CAP_SYS_ADMIN}", LABEL, "frames");
	if (doubt >= 0)
		say("%-*s%c?: the frame it was, or a new copy: the pagemap flags cannot tell, only frame numbers can",
		    LABEL, "", 'A' + doubt);

	for (size_t r = 0; r < nrows; r++) {
		struct fm_seen *s = seen_of(m, rows[r].who);
		if (!s) {
			if (m->nseen == FM_MAX_ROWS)
				die_msg("framemap: more than %d processes", FM_MAX_ROWS);
			s = &m->seen[m->nseen++];
			s->who = rows[r].who;
		}
		for (size_t i = 0; i < m->pages; i++) {
			s->letter[i] = letter[r][i];
			s->exclusive[i] = rows[r].page[i].exclusive;
		}
	}
	return ok;
}
