/*
 * session.c - one full AMI session through the C API only, over a POSIX
 * socket: banner, MD5 login, Ping, a CoreShowChannels list, Commands,
 * refused sends, a cancel, events, stats, Logoff.
 *
 * With examples/c/decode.c (the decoder) it calls every function of ami.h
 * (tests/header_drift.rs checks that), and is built and run by
 * tests/c_abi.rs against an ami-testkit TcpServer:
 *
 *   cc -Wall -Wextra -Werror -std=c11 -I include tests/c/session.c \
 *      target/debug/deps/libami_ffi.a -lpthread -ldl -lm -o session
 *   ./session <port> [user] [secret]
 *
 * It prints one line per result; any unexpected answer exits with status 1.
 */
#define _POSIX_C_SOURCE 200809L

#include "ami.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* not on every POSIX system; SIGPIPE is then default */
#endif

/* Gives up on any single wait after this long. */
#define WAIT_MS 5000

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char* what, int rc) {
    fprintf(stderr, "FAIL %s: %d %s (%s)\n", what, rc, ami_strerror(rc), ami_last_error());
    exit(1);
}

/* Fails on a negative return code; returns the code otherwise. */
static int check(const char* what, int rc) {
    if (rc < 0) die(what, rc);
    return rc;
}

typedef struct session {
    ami_conn* conn;
    int fd;
    int state;
    int close_reason;
    int events;
} session;

/* Prints an output's headers, indented. */
static void print_headers(const ami_output* out) {
    size_t n = ami_output_header_count(out);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        check("header name", ami_output_header_name(out, i, &name, &nlen));
        check("header value", ami_output_header_value(out, i, &value, &vlen));
        printf("  %.*s: %.*s\n", (int)nlen, name, (int)vlen, value);
    }
}

/* Step 1 of the loop: write what the connection lends. */
static void flush(session* s) {
    const uint8_t* data;
    size_t len;
    while (check("transmit", ami_conn_transmit(s->conn, &data, &len)) == 1) {
        ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            check("advance", ami_conn_advance(s->conn, (size_t)n));
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break; /* wait for POLLOUT */
        } else {
            check("closed", ami_conn_closed(s->conn, now_ms()));
            break;
        }
    }
}

/* Step 2: drain outputs. States and events are handled here; the
 * completion of `want_id` (if given) is returned, owned by the caller. */
static ami_output* drain(session* s, const char* want_id) {
    ami_output* found = NULL;
    ami_output* out;
    while (check("poll", ami_conn_poll(s->conn, &out)) == 1) {
        int kind = check("kind", ami_output_kind(out));
        if (kind == AMI_OUTPUT_STATE) {
            int code;
            const char* msg;
            size_t mlen;
            check("state", ami_output_state(out, &s->state, &s->close_reason));
            check("state error", ami_output_error(out, &code, &msg, &mlen));
            printf("state: %s %s %s%s%.*s\n", ami_state_name(s->state),
                   ami_close_reason_name(s->close_reason), ami_fail_name(code),
                   mlen ? " " : "", (int)mlen, msg);
        } else if (kind == AMI_OUTPUT_EVENT) {
            const char* name;
            size_t len;
            if (check("get Event", ami_output_get(out, "event", &name, &len)) == 1) {
                printf("%s: %.*s (%zu headers)\n", ami_output_kind_name(kind), (int)len, name,
                       ami_output_header_count(out));
            }
            s->events++;
        } else if (kind == AMI_OUTPUT_COMPLETION) {
            const char* id;
            size_t len;
            check("action id", ami_output_action_id(out, &id, &len));
            if (want_id && !found && strlen(want_id) == len && memcmp(id, want_id, len) == 0) {
                found = out;
                continue;
            }
            printf("other completion: %.*s\n", (int)len, id);
        }
        ami_output_free(out);
    }
    return found;
}

/* Step 3: wait for the socket or the next deadline, then feed the input. */
static void wait_io(session* s, uint64_t give_up) {
    uint64_t now = now_ms();
    uint64_t deadline = give_up;
    uint64_t next;
    if (check("next timeout", ami_conn_next_timeout_ms(s->conn, &next)) == 1 && next < deadline)
        deadline = next;
    struct pollfd p = {.fd = s->fd, .events = 0, .revents = 0};
    if (check("wants read", ami_conn_wants_read(s->conn)) == 1) {
        p.events |= POLLIN;
    } else {
        /* Back-pressure with an answer awaited: what this loop does not read
         * now is dropped (counted), so the answer is never held back. */
        ami_stats st;
        check("stats", ami_conn_stats(s->conn, &st));
        if (st.pending > 0) check("drop event", ami_conn_drop_event(s->conn));
    }
    if (check("wants write", ami_conn_wants_write(s->conn)) == 1) p.events |= POLLOUT;
    int r = poll(&p, 1, deadline > now ? (int)(deadline - now) : 0);
    now = now_ms();
    if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
        /* In turn: a read copied in, and a read into the room the
         * connection lends (no copy). */
        static unsigned turn;
        uint8_t buf[4096];
        uint8_t* room = buf;
        size_t len = sizeof buf;
        int in_place = turn++ % 2;
        if (in_place) check("input buf", ami_conn_input_buf(s->conn, 4096, &room, &len));
        ssize_t n = recv(s->fd, room, len, 0);
        if (n > 0 && in_place) {
            check("input commit", ami_conn_input_commit(s->conn, (size_t)n, now));
        } else if (n > 0) {
            check("input", ami_conn_input(s->conn, buf, (size_t)n, now));
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            check("closed", ami_conn_closed(s->conn, now));
        }
    }
    check("timeout", ami_conn_timeout(s->conn, now));
    if (now > give_up) {
        fprintf(stderr, "FAIL: gave up waiting\n");
        exit(1);
    }
}

/* Runs the loop until `id` completes (returning its output) or, with id
 * NULL, until the state is `state`. */
static ami_output* run_until(session* s, const char* id, int state) {
    uint64_t give_up = now_ms() + WAIT_MS;
    for (;;) {
        flush(s);
        ami_output* done = drain(s, id);
        if (done) return done;
        if (!id && s->state == state) return NULL;
        if (s->state == AMI_STATE_CLOSED) {
            fprintf(stderr, "FAIL: closed while waiting\n");
            exit(1);
        }
        wait_io(s, give_up);
    }
}

/* Sends an action with up to a few headers; returns the code. */
static int send_action(session* s, const char* action, const char* const* names,
                       const char* const* values, size_t count, char* id) {
    return ami_conn_send(s->conn, action, names, values, count, 0, now_ms(), id,
                         AMI_ACTION_ID_CAP);
}

/* Sends and waits for the completion; exits if the send is refused. */
static ami_output* call(session* s, const char* action, const char* const* names,
                        const char* const* values, size_t count) {
    char id[AMI_ACTION_ID_CAP];
    check(action, send_action(s, action, names, values, count, id));
    return run_until(s, id, 0);
}

static int connect_to(const char* port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) return -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <port> [user] [secret]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    uint32_t v = ami_version();
    printf("version: %u.%u.%u\n", (unsigned)(v >> 16), (unsigned)((v >> 8) & 0xff),
           (unsigned)(v & 0xff));
    if (v != AMI_FFI_VERSION) die("library version differs from the header", (int)v);
    printf("sizes: options=%zu stats=%zu\n", sizeof(ami_options), sizeof(ami_stats));

    /* Argument checks: NULL pointers and bad options are error codes. */
    printf("null: %s\n", ami_strerror(ami_options_init(NULL)));
    ami_options opts;
    check("options init", ami_options_init(&opts));
    ami_conn* conn = NULL;
    opts.max_frame = 1024;
    int rc = ami_conn_new(&opts, now_ms(), &conn);
    printf("config: %d %s\n", rc, ami_last_error());
    if (rc != AMI_E_CONFIG || conn != NULL) die("bad options accepted", rc);

    check("options init", ami_options_init(&opts));
    opts.server = "pbx-c";
    opts.username = argc > 2 ? argv[2] : "admin";
    opts.secret = argc > 3 ? argv[3] : "amp111";
    opts.seed = 0x5eed; /* fixed ActionIDs, for this test only; 0 draws a random seed */
    session s = {.conn = NULL, .fd = connect_to(argv[1]), .state = AMI_STATE_LOGGING_IN};
    if (s.fd < 0) {
        perror("connect");
        return 1;
    }
    check("conn new", ami_conn_new(&opts, now_ms(), &s.conn));

    char id[AMI_ACTION_ID_CAP];
    printf("early send: %s\n", ami_strerror(send_action(&s, "Ping", NULL, NULL, 0, id)));

    run_until(&s, NULL, AMI_STATE_READY);
    printf("ready\n");

    /* Ping: a single response. */
    ami_output* out = call(&s, "Ping", NULL, NULL, 0);
    const char *ping, *status;
    size_t plen, slen;
    if (ami_output_get(out, "Ping", &ping, &plen) != 1 ||
        ami_output_get(out, "RESPONSE", &status, &slen) != 1)
        die("ping headers", 0);
    printf("ping: %.*s %.*s\n", (int)slen, status, (int)plen, ping);
    print_headers(out);
    ami_output_free(out);

    /* CoreShowChannels: an event list. */
    out = call(&s, "CoreShowChannels", NULL, NULL, 0);
    size_t items = ami_output_item_count(out);
    printf("channels: %zu\n", items);
    for (size_t i = 0; i < items; i++) {
        const char* chan;
        size_t clen;
        if (check("item get", ami_output_item_get(out, i, "channel", &chan, &clen)) != 1)
            die("item without Channel", 0);
        printf("  channel: %.*s (%zu headers)\n", (int)clen, chan,
               ami_output_item_header_count(out, i));
    }
    if (items > 0) {
        const char *name, *value;
        size_t nlen, vlen;
        check("item name", ami_output_item_header_name(out, 0, 0, &name, &nlen));
        check("item value", ami_output_item_header_value(out, 0, 0, &value, &vlen));
        printf("  first: %.*s: %.*s\n", (int)nlen, name, (int)vlen, value);
    }
    printf("item range: %s\n",
           ami_strerror(ami_output_item_get(out, items, "Channel", &ping, &plen)));
    ami_output_free(out);

    /* Command: output lines. */
    const char* cmd_name[] = {"Command"};
    const char* cmd_version[] = {"core show version"};
    out = call(&s, "Command", cmd_name, cmd_version, 1);
    for (size_t i = 0; i < ami_output_line_count(out); i++) {
        const char* line;
        size_t len;
        check("line", ami_output_line(out, i, &line, &len));
        printf("line: %.*s\n", (int)len, line);
    }
    ami_output_free(out);

    /* A failing Command: a server error with its message. */
    const char* cmd_bogus[] = {"bogus command"};
    out = call(&s, "Command", cmd_name, cmd_bogus, 1);
    int code;
    const char* msg;
    size_t mlen;
    check("error", ami_output_error(out, &code, &msg, &mlen));
    printf("bogus: fail %d %.*s\n", code, (int)mlen, msg);
    printf("bogus headers: %zu lines %zu\n", ami_output_header_count(out),
           ami_output_line_count(out));
    ami_output_free(out);

    /* An ActionID of the caller's, for an outcome another process matches. */
    const char* aid_name_ok[] = {"ActionID"};
    const char* aid_mine[] = {"c-worker-1.1"};
    check("chosen id", send_action(&s, "Ping", aid_name_ok, aid_mine, 1, id));
    printf("chosen id: %s\n", id);
    printf("chosen again: %s\n",
           ami_strerror(send_action(&s, "Ping", aid_name_ok, aid_mine, 1, id)));
    out = run_until(&s, "c-worker-1.1", 0);
    check("chosen error", ami_output_error(out, &code, &msg, &mlen));
    printf("chosen done: fail %d\n", code);
    ami_output_free(out);

    /* Refused sends: nothing queued. */
    const char* inj_name[] = {"Channel"};
    const char* inj_value[] = {"x\r\nAction: Originate"};
    printf("injection: %s\n", ami_strerror(send_action(&s, "Hangup", inj_name, inj_value, 1, id)));
    const char* aid_name[] = {"ActionID"};
    const char* aid_bad[] = {"two words"};
    printf("actionid: %s\n", ami_strerror(send_action(&s, "Ping", aid_name, aid_bad, 1, id)));
    printf("small buffer: %s\n",
           ami_strerror(ami_conn_send(s.conn, "Ping", NULL, NULL, 0, 0, now_ms(), id, 8)));
    printf("bad utf8: %s\n", ami_strerror(send_action(&s, "Ping\xff", NULL, NULL, 0, id)));

    /* Cancel: the completion comes at once, as cancelled. */
    check("cancel send", ami_conn_send(s.conn, "Ping", NULL, NULL, 0, 60000, now_ms(), id,
                                       sizeof id));
    int first = check("cancel", ami_conn_cancel(s.conn, id, now_ms()));
    int again = check("cancel again", ami_conn_cancel(s.conn, id, now_ms()));
    printf("cancel: %d again: %d\n", first, again);
    out = run_until(&s, id, 0);
    check("cancel error", ami_output_error(out, &code, &msg, &mlen));
    printf("cancelled: fail %d %.*s\n", code, (int)mlen, msg);
    printf("kind check: %s\n", ami_strerror(ami_output_state(out, &code, &code)));
    ami_output_free(out);

    /* Logoff: the server says Goodbye and closes; EOF closes the session. */
    check("logoff", send_action(&s, "Logoff", NULL, NULL, 0, id));
    out = run_until(&s, id, 0);
    ami_output_free(out);
    run_until(&s, NULL, AMI_STATE_CLOSED);
    printf("closed: reason %d\n", s.close_reason);

    ami_stats st;
    check("stats", ami_conn_stats(s.conn, &st));
    /* The caller's own cancels, counted in actions_failed too. */
    uint64_t cancelled;
    check("cancelled", ami_conn_cancelled(s.conn, &cancelled));
    printf("stats: sent %llu ok %llu failed %llu cancelled %llu timeouts %llu events %llu "
           "pending %llu in>0 %d out>0 %d\n",
           (unsigned long long)st.actions_sent, (unsigned long long)st.actions_ok,
           (unsigned long long)st.actions_failed, (unsigned long long)cancelled,
           (unsigned long long)st.timeouts, (unsigned long long)st.events,
           (unsigned long long)st.pending, st.bytes_in > 0, st.bytes_out > 0);
    printf("cancelled null: %s\n", ami_strerror(ami_conn_cancelled(NULL, &cancelled)));
    printf("events seen: %d\n", s.events);
    ami_conn_free(s.conn);
    ami_conn_free(NULL);
    ami_output_free(NULL);
    close(s.fd);
    printf("done\n");
    return 0;
}
