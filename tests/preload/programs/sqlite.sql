-- SPDX-License-Identifier: MIT
--
-- sqlite.sql - the sqlite3 shell's part of tests/preload-programs.sh:
-- 100,000 generated rows (page-sized page-cache buffers, overflow pages),
-- two indexes, aggregates, a join, updates, deletes, VACUUM and an
-- integrity check.  Every value is computed from the row number, so the
-- output is the same on every run.
.bail on
.headers off
.mode list
PRAGMA page_size = 4096;
PRAGMA cache_size = -8000;

CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, name TEXT NOT NULL,
	       val REAL NOT NULL, pad TEXT);
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT NOT NULL);

BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
INSERT INTO t(id, grp, name, val, pad)
	SELECT i, i % 97, printf('name-%06d-%s', (i * 7919) % 100003, hex(i * 31)),
	       (i * 37 % 1000) / 10.0,
	       CASE WHEN i % 50 = 0 THEN hex(zeroblob(2000 + i % 3000))
		    ELSE substr(hex(zeroblob(64)), 1, i % 120) END
	FROM c;
WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 96)
INSERT INTO g SELECT i, 'group-' || char(65 + i % 26) || (i / 26) FROM c;
COMMIT;

CREATE INDEX t_grp_val ON t(grp, val);
CREATE INDEX t_name ON t(name);

SELECT 'rows', count(*), printf('%.1f', sum(val)), sum(length(pad)) FROM t;
SELECT 'group', grp, count(*), printf('%.1f', sum(val)), min(name), max(name)
	FROM t GROUP BY grp ORDER BY grp LIMIT 8;
SELECT 'join', g.label, count(*), printf('%.2f', avg(t.val))
	FROM t JOIN g ON g.grp = t.grp WHERE t.val > 50
	GROUP BY g.label ORDER BY count(*) DESC, g.label LIMIT 8;
SELECT 'sorted', id, name FROM t ORDER BY (id * 104729) % 100019 LIMIT 5;
SELECT 'like', count(*) FROM t WHERE name LIKE 'name-0123%';
SELECT 'window', grp, val, rank() OVER (PARTITION BY grp ORDER BY val DESC, id) AS r
	FROM t WHERE grp IN (3, 50) ORDER BY grp, r LIMIT 6;

UPDATE t SET val = val * 2, pad = pad || pad WHERE id % 3 = 0;
DELETE FROM t WHERE id % 10 = 0;
SELECT 'after', count(*), printf('%.1f', sum(val)), sum(length(pad)) FROM t;
SELECT 'distinct', count(DISTINCT grp), count(DISTINCT substr(name, 1, 8)) FROM t;
VACUUM;
PRAGMA integrity_check;
SELECT 'pages', page_count FROM pragma_page_count;
.sha3sum
