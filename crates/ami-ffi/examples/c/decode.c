/*
 * decode.c - prints the AMI frames of a captured byte stream, through the
 * decode-only part of the C API (ami_decoder_*): no session, no socket.
 *
 * Build the library, then compile and link against it, statically:
 *
 *   cargo build -p ami-ffi --release
 *   cc -std=c11 -Wall -I crates/ami-ffi/include crates/ami-ffi/examples/c/decode.c \
 *      target/release/libami_ffi.a -lpthread -ldl -lm -o ami-decode
 *
 * or against the shared library (found at run time through LD_LIBRARY_PATH,
 * or DYLD_LIBRARY_PATH on macOS):
 *
 *   cc -std=c11 -Wall -I crates/ami-ffi/include crates/ami-ffi/examples/c/decode.c \
 *      -L target/release -lami_ffi -o ami-decode
 *   LD_LIBRARY_PATH=target/release ./ami-decode ...
 *
 * Run it on what a server sent (a banner first), or with --no-banner on a
 * client's bytes or a capture taken mid-session; "-" or no file reads stdin:
 *
 *   ./ami-decode tests/corpus/asterisk-22/10-coreshowchannels-20.raw
 *   ./ami-decode --no-banner tests/corpus/asterisk-22/10-coreshowchannels-20.sent
 *
 * One line per frame (its kind, then what identifies it), then the counts.
 * Exit status 0, or 1 when the file cannot be read.
 */
#include "ami.h"

#include <stdio.h>
#include <string.h>

/* Fails on a negative return code. */
static int check(const char* what, int rc) {
    if (rc < 0) {
        fprintf(stderr, "%s: %s (%s)\n", what, ami_strerror(rc), ami_last_error());
        return 0;
    }
    return 1;
}

/* Prints one frame: its kind's name and its first header, or what it is. */
static void print_frame(const ami_output* out) {
    int kind = ami_output_kind(out);
    const char *name, *value;
    size_t nlen, vlen;
    printf("%s", ami_output_kind_name(kind));
    if (kind == AMI_OUTPUT_BANNER && ami_output_line(out, 0, &value, &vlen) == AMI_OK) {
        printf(" %.*s", (int)vlen, value);
    } else if (kind == AMI_OUTPUT_DECODE_ERROR) {
        int code;
        check("error", ami_output_error(out, &code, &value, &vlen));
        printf(" %s: %.*s", ami_fail_name(code), (int)vlen, value);
    } else if (ami_output_header_count(out) > 0 &&
               ami_output_header_name(out, 0, &name, &nlen) == AMI_OK &&
               ami_output_header_value(out, 0, &value, &vlen) == AMI_OK) {
        printf(" %.*s: %.*s (%zu headers", (int)nlen, name, (int)vlen, value,
               ami_output_header_count(out));
        if (ami_output_line_count(out) > 0) printf(", %zu output lines", ami_output_line_count(out));
        printf(")");
    }
    printf("\n");
}

int main(int argc, char** argv) {
    int banner = AMI_DECODE_BANNER;
    int arg = 1;
    if (arg < argc && strcmp(argv[arg], "--no-banner") == 0) {
        banner = AMI_DECODE_NO_BANNER;
        arg++;
    }
    FILE* in = stdin;
    if (arg < argc && strcmp(argv[arg], "-") != 0) {
        in = fopen(argv[arg], "rb");
        if (!in) {
            perror(argv[arg]);
            return 1;
        }
    }
    ami_decoder* dec = NULL;
    if (!check("decoder", ami_decoder_new(0, banner, &dec))) return 1;

    size_t counts[8] = {0}; /* by kind, AMI_OUTPUT_OTHER counted as 0 */
    unsigned char buf[4096];
    size_t n;
    do {
        n = fread(buf, 1, sizeof buf, in);
        if (!check("input", ami_decoder_input(dec, buf, n))) break;
        ami_output* out;
        while (ami_decoder_next(dec, &out) == 1) {
            print_frame(out);
            int kind = ami_output_kind(out);
            counts[kind > 0 && kind < 8 ? kind : 0]++;
            ami_output_free(out);
        }
    } while (n > 0);

    printf("frames: banner %zu responses %zu events %zu other %zu skipped %zu\n",
           counts[AMI_OUTPUT_BANNER], counts[AMI_OUTPUT_RESPONSE], counts[AMI_OUTPUT_EVENT],
           counts[AMI_OUTPUT_FRAME], counts[AMI_OUTPUT_DECODE_ERROR]);
    ami_decoder_free(dec);
    if (in != stdin) fclose(in);
    return 0;
}
