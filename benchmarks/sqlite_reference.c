/* The raw-SQLite reference of the CreateLead benchmark: N inserts of one row into a table copied from
 * crm-leads' own store (same columns, same indexes), one transaction per insert (BEGIN IMMEDIATE ...
 * COMMIT, as GRDB's write does), WAL, with the given synchronous mode, from C with a prepared
 * statement: the fastest a single writer can commit rows one by one on this machine.
 *
 *   sqlite_reference DB ROWS SYNCHRONOUS   (DB already holds the empty `leads` table and its indexes)
 *   prints: "<rows> inserts in <seconds> s = <rate> inserts/s"
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DB ROWS NORMAL|FULL\n", argv[0]);
        return 2;
    }
    long rows = atol(argv[2]);
    sqlite3 *db;
    check(sqlite3_open(argv[1], &db), db, "open");
    char pragma[128];
    snprintf(pragma, sizeof pragma, "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;", argv[3]);
    check(sqlite3_exec(db, pragma, 0, 0, 0), db, "pragmas");

    /* Column types of the copied table decide what each placeholder gets. */
    int columns = 0, is_text[128];
    sqlite3_stmt *info;
    check(sqlite3_prepare_v2(db, "SELECT type FROM pragma_table_info('leads')", -1, &info, 0), db, "table_info");
    while (sqlite3_step(info) == SQLITE_ROW && columns < 128) {
        is_text[columns++] = strcmp((const char *)sqlite3_column_text(info, 0), "TEXT") == 0;
    }
    sqlite3_finalize(info);
    char sql[4096] = "INSERT INTO leads VALUES (";
    for (int c = 0; c < columns; c++) strcat(sql, c ? ", ?" : "?");
    strcat(sql, ")");
    sqlite3_stmt *insert, *begin, *commit;
    check(sqlite3_prepare_v2(db, sql, -1, &insert, 0), db, "prepare insert");
    check(sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, 0), db, "prepare begin");
    check(sqlite3_prepare_v2(db, "COMMIT", -1, &commit, 0), db, "prepare commit");

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char text[96];
    for (long i = 0; i < rows; i++) {
        check(sqlite3_step(begin), db, "begin");
        sqlite3_reset(begin);
        for (int c = 0; c < columns; c++) {
            if (is_text[c]) {
                /* Unique per row and column, the length of a typical lead field. */
                int n = snprintf(text, sizeof text, "lead_%012ld_col%02d_reference_value", i, c);
                sqlite3_bind_text(insert, c + 1, text, n, SQLITE_TRANSIENT);
            } else {
                sqlite3_bind_int64(insert, c + 1, c == 17 ? 1 : 1767603600000LL + i);
            }
        }
        check(sqlite3_step(insert), db, "insert");
        sqlite3_reset(insert);
        check(sqlite3_step(commit), db, "commit");
        sqlite3_reset(commit);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    printf("%ld inserts in %.3f s = %.0f inserts/s\n", rows, seconds, rows / seconds);
    sqlite3_finalize(insert);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    return 0;
}
