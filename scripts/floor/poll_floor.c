/* The floor for continuous polling: the least socket work that polls the same
 * fleet as the monitor, one raw epoll loop in C, used by scripts/bench.sh.
 *
 * For each node it keeps one persistent TCP connection and, every uniformly
 * random 5-10 s, writes GET_STATUS and reads the reply; a closed connection is
 * opened again at the node's next poll. Poll times are rounded up to a 100 ms
 * grid (as the monitor's are), so one wake-up serves every node due in it. It
 * runs for the given time, then prints what it did and exits.
 *
 *   poll_floor ADDR_FILE SECONDS [MIN_MS MAX_MS]
 *
 * ADDR_FILE has one "IPV4 PORT" per line. Linux only; libc only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOT_MS 100
#define NSLOTS 256 /* 25.6 s of slots: more than the longest wait */
#define NONE UINT32_MAX

enum { IDLE, CONNECTING, CONNECTED };

struct node {
    struct sockaddr_in addr;
    int fd;
    int state;
    int awaiting;
    int replied;
    uint32_t next; /* next node in the same slot */
};

static struct node *nodes;
static uint32_t slots[NSLOTS];
static int ep;
static uint64_t polls, replies, connects, connect_failures, closes;
static uint64_t rng;
static const char request[] = "GET_STATUS";

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t uniform(uint64_t lo, uint64_t hi) {
    /* xorshift64: the spread of poll times only needs to be even. */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + rng % (hi - lo + 1);
}

/* Puts node i in the slot of absolute tick `tick`. */
static void schedule(uint32_t i, uint64_t tick) {
    uint32_t s = (uint32_t)(tick % NSLOTS);
    nodes[i].next = slots[s];
    slots[s] = i;
}

static void drop(uint32_t i) {
    close(nodes[i].fd);
    nodes[i].fd = -1;
    nodes[i].state = IDLE;
    nodes[i].awaiting = 0;
}

static void send_request(uint32_t i) {
    ssize_t n = send(nodes[i].fd, request, sizeof request - 1, MSG_NOSIGNAL);
    if (n == (ssize_t)(sizeof request - 1)) {
        polls++;
        nodes[i].awaiting = 1;
    } else {
        closes++;
        drop(i);
    }
}

static void start_connect(uint32_t i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        connect_failures++;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    nodes[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    if (connect(fd, (struct sockaddr *)&nodes[i].addr, sizeof nodes[i].addr) == 0) {
        connects++;
        nodes[i].state = CONNECTED;
        ev.events = EPOLLIN | EPOLLRDHUP;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        send_request(i);
    } else if (errno == EINPROGRESS) {
        nodes[i].state = CONNECTING;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    } else {
        connect_failures++;
        drop(i);
    }
}

static void poll_node(uint32_t i) {
    switch (nodes[i].state) {
    case CONNECTED: send_request(i); break;
    case IDLE: start_connect(i); break;
    default: break; /* still connecting: this poll is skipped */
    }
}

static void on_event(uint32_t i, uint32_t events) {
    struct node *n = &nodes[i];
    if (n->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(n->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            connect_failures++;
            drop(i);
            return;
        }
        connects++;
        n->state = CONNECTED;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_MOD, n->fd, &ev);
        send_request(i);
        return;
    }
    if (n->state != CONNECTED)
        return;
    char buf[256];
    ssize_t r = recv(n->fd, buf, sizeof buf, 0);
    if (r > 0) {
        if (n->awaiting) {
            replies++;
            n->awaiting = 0;
            n->replied = 1;
        }
        return;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR) && !(events & (EPOLLHUP | EPOLLERR)))
        return;
    closes++;
    drop(i);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s ADDR_FILE SECONDS [MIN_MS MAX_MS]\n", argv[0]);
        return 3;
    }
    double seconds = atof(argv[2]);
    uint64_t min_ms = argc == 5 ? strtoull(argv[3], NULL, 10) : 5000;
    uint64_t max_ms = argc == 5 ? strtoull(argv[4], NULL, 10) : 10000;
    if (seconds <= 0 || min_ms == 0 || max_ms < min_ms || max_ms / SLOT_MS + 2 >= NSLOTS) {
        fprintf(stderr, "poll_floor: bad SECONDS or MIN_MS/MAX_MS\n");
        return 3;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 3;
    }
    size_t cap = 1024, count = 0;
    nodes = calloc(cap, sizeof *nodes);
    char ip[64];
    unsigned port;
    while (nodes && fscanf(f, "%63s %u", ip, &port) == 2) {
        if (count == cap) {
            cap *= 2;
            nodes = realloc(nodes, cap * sizeof *nodes);
            if (!nodes)
                break;
        }
        struct node *n = &nodes[count];
        memset(n, 0, sizeof *n);
        n->addr.sin_family = AF_INET;
        n->addr.sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, ip, &n->addr.sin_addr) != 1 || port == 0 || port > 65535) {
            fprintf(stderr, "poll_floor: bad address %s %u\n", ip, port);
            return 3;
        }
        n->fd = -1;
        count++;
    }
    fclose(f);
    if (!nodes || count == 0) {
        fprintf(stderr, "poll_floor: no addresses in %s\n", argv[1]);
        return 3;
    }

    /* One descriptor per node. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("epoll_create1");
        return 1;
    }
    rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ now_ms();
    if (rng == 0)
        rng = 1;
    for (uint32_t s = 0; s < NSLOTS; s++)
        slots[s] = NONE;

    uint64_t start = now_ms();
    uint64_t end = start + (uint64_t)(seconds * 1000);
    /* First polls spread over the first second, as the monitor's are. */
    for (uint32_t i = 0; i < count; i++)
        schedule(i, (uniform(0, 1000) + SLOT_MS - 1) / SLOT_MS);
    uint64_t tick = 0; /* next tick to serve, counted from start */
    static struct epoll_event events[1024];
    for (;;) {
        uint64_t now = now_ms();
        if (now >= end)
            break;
        uint64_t elapsed = now - start;
        /* Serve every slot whose time has come. */
        while (tick * SLOT_MS <= elapsed) {
            uint32_t s = (uint32_t)(tick % NSLOTS);
            uint32_t i = slots[s];
            slots[s] = NONE;
            while (i != NONE) {
                uint32_t next = nodes[i].next;
                poll_node(i);
                /* The next poll, rounded up to the grid. */
                uint64_t due = tick * SLOT_MS + uniform(min_ms, max_ms);
                schedule(i, (due + SLOT_MS - 1) / SLOT_MS);
                i = next;
            }
            tick++;
        }
        uint64_t wake = start + tick * SLOT_MS;
        if (wake > end)
            wake = end;
        int timeout = wake > now ? (int)(wake - now) : 0;
        int n = epoll_wait(ep, events, 1024, timeout);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int k = 0; k < n; k++)
            on_event(events[k].data.u32, events[k].events);
    }
    int replied_nodes = 0;
    for (uint32_t i = 0; i < count; i++)
        replied_nodes += nodes[i].replied;
    printf("nodes=%zu polls=%llu replies=%llu replied_nodes=%d connects=%llu "
           "connect_failures=%llu closed=%llu\n",
           count, (unsigned long long)polls, (unsigned long long)replies, replied_nodes,
           (unsigned long long)connects, (unsigned long long)connect_failures,
           (unsigned long long)closes);
    return 0;
}
