/* Times reading a capture file with pread into a reused buffer against
 * mapping it with mmap. Each thread takes an equal part of the file and loads
 * one byte per 64-byte cache line, the least a parser touches.
 *
 * Build and run:  gcc -O2 -pthread benches/read_modes.c -o /tmp/read_modes
 *                 /tmp/read_modes CAPTURE read|mmap THREADS ROUNDS
 * Prints the median wall time of the rounds. The file should sit in the page
 * cache (run `cat CAPTURE > /dev/null` first).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUFFER_LEN (1 << 20)

static const char *path;
static size_t file_len;
static int use_mmap;
static int threads;
static volatile unsigned long checksum;

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

static void *read_part(void *argument) {
    long index = (long)argument;
    size_t part = file_len / threads;
    size_t start = index * part;
    size_t end = index == threads - 1 ? file_len : start + part;
    unsigned long sum = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    if (use_mmap) {
        const unsigned char *map = mmap(NULL, file_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            perror("mmap");
            exit(1);
        }
        for (size_t at = start; at < end; at += 64)
            sum += map[at];
        munmap((void *)map, file_len);
    } else {
        unsigned char *buffer = malloc(BUFFER_LEN);
        for (size_t at = start; at < end; at += BUFFER_LEN) {
            size_t want = end - at < BUFFER_LEN ? end - at : BUFFER_LEN;
            ssize_t got = pread(fd, buffer, want, at);
            for (ssize_t i = 0; i < got; i += 64)
                sum += buffer[i];
        }
        free(buffer);
    }
    close(fd);
    checksum += sum;
    return NULL;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[2], "read") && strcmp(argv[2], "mmap"))) {
        fprintf(stderr, "usage: %s CAPTURE read|mmap THREADS ROUNDS\n", argv[0]);
        return 2;
    }
    path = argv[1];
    use_mmap = strcmp(argv[2], "mmap") == 0;
    threads = atoi(argv[3]);
    int rounds = atoi(argv[4]);
    struct stat status;
    if (stat(path, &status) != 0 || threads < 1 || threads > 64 || rounds < 1 || rounds > 99) {
        fprintf(stderr, "invalid capture, thread count (1-64) or rounds (1-99)\n");
        return 2;
    }
    file_len = status.st_size;

    double walls[99];
    for (int round = 0; round < rounds; round++) {
        pthread_t workers[64];
        double start = seconds_now();
        for (long index = 0; index < threads; index++)
            pthread_create(&workers[index], NULL, read_part, (void *)index);
        for (int index = 0; index < threads; index++)
            pthread_join(workers[index], NULL);
        walls[round] = seconds_now() - start;
    }
    qsort(walls, rounds, sizeof walls[0], compare_doubles);
    printf("%s on %d thread(s): median %.3f s of %d rounds\n", argv[2], threads, walls[rounds / 2], rounds);
    return 0;
}
