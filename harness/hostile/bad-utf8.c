/* Hostile submission: output that is not UTF-8, with control characters.
 * Contained: the reports (JSON, JUnit XML, CSV, Markdown) stay valid. */
#include <stdio.h>

int main(void)
{
	fputs("# Lab 99: victim\n\n[1] Do one harmless thing.\n    \xff\xfe \xc3\x28 \x01\x1b[31m \x7f ]]> </failure> \"\n", stdout);
	fputs("\xed\xa0\x80 stderr too \xff\n", stderr);
	return 0;
}
