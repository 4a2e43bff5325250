/* Hostile submission: connects to a listener on the host's loopback.
 * Contained under bwrap and unshare (a private network namespace); the
 * rlimits level does not isolate the network and says so.  The test puts
 * its listener's port in PORT. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORT @PORT@

int main(void)
{
	puts("# Lab 99: victim");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s == -1) {
		puts("    socket refused");
		return 0;
	}
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	printf("    connect 127.0.0.1: %s\n", r == 0 ? "CONNECTED" : "refused");
	if (r == 0)
		(void)!write(s, "hello from the sandbox\n", 23);
	close(s);
	return 0;
}
