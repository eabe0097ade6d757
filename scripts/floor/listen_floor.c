/* The floor for listen mode: the least socket work that receives the same V3
 * senders as the monitor, one raw epoll loop in C, used by scripts/bench.sh.
 *
 * It accepts on 127.0.0.1:PORT, reads CRLF lines from up to MAX_CONNECTIONS
 * connections at once (10,000 by default; more are closed at once), counts the
 * lines and bytes, and never writes. It runs for the given time, then prints
 * what it counted and exits.
 *
 *   listen_floor PORT SECONDS [MAX_CONNECTIONS]
 *
 * Linux only; libc only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s PORT SECONDS [MAX_CONNECTIONS]\n", argv[0]);
        return 3;
    }
    long port = strtol(argv[1], NULL, 10);
    double seconds = atof(argv[2]);
    long max_open = argc == 4 ? strtol(argv[3], NULL, 10) : 10000;
    if (port <= 0 || port > 65535 || seconds <= 0 || max_open <= 0) {
        fprintf(stderr, "listen_floor: bad PORT, SECONDS or MAX_CONNECTIONS\n");
        return 3;
    }

    /* One descriptor per connection. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(lfd, 65535) != 0) {
        perror("listen_floor: listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) != 0) {
        perror("listen_floor: epoll");
        return 1;
    }

    uint64_t accepted = 0, refused = 0, closed = 0, lines = 0, bytes = 0;
    long open_now = 0, peak_open = 0;
    static struct epoll_event events[1024];
    static char buf[64 * 1024];
    uint64_t end = now_ms() + (uint64_t)(seconds * 1000);
    for (;;) {
        uint64_t now = now_ms();
        if (now >= end)
            break;
        int n = epoll_wait(ep, events, 1024, (int)(end - now));
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            int fd = events[k].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0)
                        break;
                    if (open_now >= max_open) {
                        refused++;
                        close(c);
                        continue;
                    }
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                    accepted++;
                    if (++open_now > peak_open)
                        peak_open = open_now;
                }
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r > 0) {
                bytes += (uint64_t)r;
                /* A line ends with LF; counting LFs needs no state per connection. */
                for (char *p = buf, *e = buf + r; (p = memchr(p, '\n', (size_t)(e - p))); p++)
                    lines++;
                continue;
            }
            if (r < 0 && (errno == EAGAIN || errno == EINTR) &&
                !(events[k].events & (EPOLLHUP | EPOLLERR)))
                continue;
            close(fd); /* closing removes it from the epoll set */
            closed++;
            open_now--;
        }
    }
    printf("accepted=%llu peak_open=%ld refused=%llu closed=%llu lines=%llu bytes=%llu\n",
           (unsigned long long)accepted, peak_open, (unsigned long long)refused,
           (unsigned long long)closed, (unsigned long long)lines, (unsigned long long)bytes);
    return 0;
}
