/* The least a program does to read the token from export_dir's file: open,
 * read, close. `readfile FILE` prints it; `readfile FILE N` reads it N times
 * and prints the nanoseconds a read took on average (bench/read-paths). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static ssize_t read_once(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, size);
    close(fd);
    return n;
}

int main(int argc, char **argv) {
    char buf[4096];
    if (argc == 2) {
        ssize_t n = read_once(argv[1], buf, sizeof buf);
        if (n <= 0) return 3;
        fwrite(buf, 1, (size_t)n, stdout);
        return 0;
    }
    if (argc != 3) return 2;
    long runs = atol(argv[2]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < runs; i++)
        if (read_once(argv[1], buf, sizeof buf) <= 0) return 3;
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.0f\n", ns / runs);
    return 0;
}
