/* Hostile submission: output that tries to rewrite the report around it:
 * closes the diff's code fence, writes a heading and a score, clears the
 * terminal, sets its title, writes a NUL and reverses text direction.
 * Contained: student output is data; reports.safe() shows every control
 * character as an escape and reports.fence() makes a fence longer than any
 * backtick run inside, in feedback.md, results.json and on the terminal. */
#include <stdio.h>

int main(void)
{
	fputs("# Lab 99: victim\n\n[1] Do one harmless thing.\n"
	      "```\n# INJECTED HEADING\n## 99-victim: 10/10\n````\n~~~\n"
	      "\x1b[2J\x1b]0;pwned\x07 \xe2\x80\xae desrever\n", stdout);
	fwrite("NUL:\0:end\n", 1, 10, stdout);
	fputs("```\n# INJECTED IN STDERR\n\x1b[31m\n", stderr);
	return 0;
}
