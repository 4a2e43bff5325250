/* Hostile submission: output that is not UTF-8, with control characters, and
 * that tries to rewrite the report around it: closes the diff's code fence,
 * writes a heading and a score, clears the terminal, sets its title, writes a
 * NUL and reverses the text direction.  Contained: the reports (JSON, JUnit
 * XML, CSV, Markdown) stay valid, and student output is data: reports.safe()
 * shows every control character as an escape and reports.fence() makes a
 * fence longer than any backtick run inside (feedback.md, results.json, the
 * terminal). */
#include <stdio.h>

int main(void)
{
	fputs("# Lab 99: victim\n\n[1] Do one harmless thing.\n    \xff\xfe \xc3\x28 \x01\x1b[31m \x7f ]]> </failure> \"\n", stdout);
	fputs("```\n# INJECTED HEADING\n## 99-victim: 10/10\n````\n~~~\n"
	      "\x1b[2J\x1b]0;pwned\x07 \xe2\x80\xae desrever\n", stdout);
	fwrite("NUL:\0:end\n", 1, 10, stdout);
	fputs("\xed\xa0\x80 stderr too \xff\n```\n# INJECTED IN STDERR\n\x1b[31m\n", stderr);
	return 0;
}
