//! The catalogue's schema as forward-only migrations, numbered by `PRAGMA user_version`.
//!
//! A catalogue made by an older dicura is migrated on open; one made by a newer dicura is
//! refused rather than misread.

/// Each entry upgrades the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// Version 1: files, the DICOM hierarchy, volumes, every header as JSONB, scans and history.
const V1: &str = r#"
CREATE TABLE roots (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,
    first_scan  REAL NOT NULL,
    last_scan   REAL
);

CREATE TABLE scans (
    id          INTEGER PRIMARY KEY,
    started     REAL NOT NULL,
    finished    REAL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'complete', 'interrupted')),
    roots       TEXT NOT NULL,          -- JSON array of root paths
    summary     TEXT                    -- JSON summary, as printed by `scan --json`
);

-- One row per file ever seen. Rows of files that disappeared stay, with removed_at set.
CREATE TABLE files (
    id          INTEGER PRIMARY KEY,
    path        TEXT NOT NULL UNIQUE,   -- absolute; non-UTF-8 bytes escaped as \xNN
    path_raw    BLOB,                   -- the raw bytes when the name is not UTF-8
    root_id     INTEGER REFERENCES roots(id),
    size        INTEGER NOT NULL,
    mtime_s     INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    ctime_ns    INTEGER NOT NULL,       -- inode change time (chmod, chown): ns since the epoch
    dev         INTEGER NOT NULL,
    ino         INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('dicom', 'nifti', 'analyze', 'volume_data', 'other', 'unreadable')),
    status      TEXT NOT NULL CHECK (status IN ('ok', 'truncated', 'corrupt', 'unreadable', 'removed')),
    error       TEXT,                   -- a reason a curator can act on; never a PHI value
    ext         TEXT,                   -- lower-case extension, without the dot
    first_seen  REAL NOT NULL,
    scanned_at  REAL NOT NULL,          -- when the file's content was last read
    scan_id     INTEGER REFERENCES scans(id),
    removed_at  REAL
);
CREATE INDEX files_kind ON files(kind, status);
CREATE INDEX files_root ON files(root_id);

-- Changes seen by rescans: 'changed', 'removed', 'restored'. First sightings are files.first_seen.
CREATE TABLE file_events (
    id          INTEGER PRIMARY KEY,
    file_id     INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    scan_id     INTEGER REFERENCES scans(id),
    at          REAL NOT NULL,
    event       TEXT NOT NULL,
    size        INTEGER,
    mtime_s     INTEGER
);
CREATE INDEX file_events_file ON file_events(file_id);

-- The DICOM hierarchy. A patient is an (ID, name) pair; studies and series are keyed within
-- their parent, so a UID reused under another patient shows up as two rows (a collision to
-- report, not to hide).
CREATE TABLE patients (
    id              INTEGER PRIMARY KEY,
    patient_id      TEXT NOT NULL,
    patient_name    TEXT NOT NULL,
    birth_date      TEXT,
    sex             TEXT,
    UNIQUE (patient_id, patient_name)
);

CREATE TABLE studies (
    id              INTEGER PRIMARY KEY,
    patient_ref     INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    study_uid       TEXT NOT NULL,
    study_date      TEXT,
    study_time      TEXT,
    accession       TEXT,
    study_id        TEXT,
    description     TEXT,
    UNIQUE (patient_ref, study_uid)
);
CREATE INDEX studies_uid ON studies(study_uid);

CREATE TABLE series (
    id                  INTEGER PRIMARY KEY,
    study_ref           INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    series_uid          TEXT NOT NULL,
    series_number       INTEGER,
    modality            TEXT,
    description         TEXT,
    body_part           TEXT,
    manufacturer        TEXT,
    model               TEXT,
    station             TEXT,
    institution         TEXT,
    protocol_name       TEXT,
    frame_of_reference  TEXT,
    n_instances         INTEGER NOT NULL DEFAULT 0,  -- kept by the triggers below
    UNIQUE (study_ref, series_uid)
);
CREATE INDEX series_uid ON series(series_uid);
CREATE INDEX series_modality ON series(modality);

CREATE TABLE instances (
    file_id                 INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    series_ref              INTEGER NOT NULL REFERENCES series(id),
    patient_id              TEXT,
    study_uid               TEXT,
    series_uid              TEXT,
    sop_class_uid           TEXT,
    sop_instance_uid        TEXT,
    instance_number         INTEGER,
    transfer_syntax_uid     TEXT,
    syntax_inferred         INTEGER NOT NULL,
    has_preamble            INTEGER NOT NULL,
    has_meta                INTEGER NOT NULL,
    meta_sop_class_uid      TEXT,
    meta_sop_instance_uid   TEXT,
    charset                 TEXT,
    image_type              TEXT,
    acquisition_date        TEXT,
    rows                    INTEGER,
    columns                 INTEGER,
    number_of_frames        INTEGER,
    samples_per_pixel       INTEGER,
    bits_allocated          INTEGER,
    bits_stored             INTEGER,
    high_bit                INTEGER,
    pixel_representation    INTEGER,
    photometric             TEXT,
    pixel_spacing           TEXT,       -- as in the file: "row\col"
    slice_thickness         REAL,
    slice_location          REAL,
    image_position          TEXT,       -- "x\y\z"
    image_orientation       TEXT,       -- six direction cosines
    frame_of_reference      TEXT,
    pixel_offset            INTEGER,    -- where Pixel Data's value starts (inflated offset if deflated)
    pixel_length            INTEGER,    -- NULL when undefined (encapsulated)
    encapsulated            INTEGER,
    fragments               INTEGER,    -- encapsulated: fragments after the Basic Offset Table
    offset_table            INTEGER,    -- encapsulated: Basic Offset Table length in bytes
    trailing_bytes          INTEGER NOT NULL DEFAULT 0,
    problems                TEXT        -- JSON array of {code, message} found while parsing
);
CREATE INDEX instances_series ON instances(series_ref, instance_number);
CREATE INDEX instances_sop ON instances(sop_instance_uid);

-- Instance counts per series, kept in the same transaction as the rows they count, so the
-- browser can show counts for any number of patients without counting instances.
CREATE TRIGGER instances_count_insert AFTER INSERT ON instances BEGIN
    UPDATE series SET n_instances = n_instances + 1 WHERE id = NEW.series_ref;
END;
CREATE TRIGGER instances_count_delete AFTER DELETE ON instances BEGIN
    UPDATE series SET n_instances = n_instances - 1 WHERE id = OLD.series_ref;
END;

-- Every element of every DICOM header, as JSONB in a compact form: {"GGGGEEEE": [VR, v1, ...]},
-- sequences as ["SQ", {item}, ...] (see docs/catalogue.md):
--   SELECT path FROM files JOIN headers ON headers.file_id = files.id
--   WHERE headers.elements ->> '$."00080070"[1]' = 'GE MEDICAL SYSTEMS';
CREATE TABLE headers (
    file_id     INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    groups      TEXT NOT NULL,          -- top-level groups present, e.g. " 0002 0008 0010 0029 "
    elements    BLOB NOT NULL
);

-- NIfTI-1/2 and Analyze 7.5 headers.
CREATE TABLE volumes (
    file_id         INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    format          TEXT NOT NULL,      -- nifti1, nifti2, analyze75
    byte_order      TEXT NOT NULL,
    gzipped         INTEGER NOT NULL,
    single_file     INTEGER NOT NULL,
    data_path       TEXT NOT NULL,
    data_present    INTEGER NOT NULL,
    data_size       INTEGER,
    expected_bytes  INTEGER,
    ndim            INTEGER NOT NULL,
    dims            TEXT NOT NULL,      -- JSON [d1..dn]
    nx INTEGER, ny INTEGER, nz INTEGER, nt INTEGER,
    pixdim          TEXT NOT NULL,      -- JSON [qfac, d1..d7]
    datatype        INTEGER NOT NULL,
    datatype_name   TEXT NOT NULL,
    bitpix          INTEGER NOT NULL,
    vox_offset      REAL,
    scl_slope       REAL,
    scl_inter       REAL,
    space_units     TEXT,
    time_units      TEXT,
    qform_code      INTEGER,
    sform_code      INTEGER,
    qform           TEXT,               -- JSON 4x4
    sform           TEXT,               -- JSON 4x4
    orientation     TEXT,               -- e.g. RAS
    descrip         TEXT,
    aux_file        TEXT,
    intent_code     INTEGER,
    intent_name     TEXT,
    db_name         TEXT,
    extensions      INTEGER NOT NULL,
    header          TEXT NOT NULL       -- every field, JSON
);
"#;

/// Version 2: findings (conformance, integrity, duplicates, protocol), acknowledgements, the
/// series/studies whose cross-file findings are due, and content hashes for duplicates.
const V2: &str = r#"
-- One row per finding. `subject` is what an acknowledgement names: 'file:<path>',
-- 'series:<uid>', 'study:<uid>' or 'folder:<path>'. `source` says which pass wrote it, so each
-- pass replaces only its own rows: 'file' (the scan's per-file checks), 'series', 'study',
-- 'duplicates', 'dataset' (protocol and outliers), 'deep' (pixel content).
CREATE TABLE findings (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('error', 'warning', 'info')),
    rank        INTEGER NOT NULL,       -- 2 error, 1 warning, 0 info
    message     TEXT NOT NULL,          -- never a PHI value
    source      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    file_id     INTEGER REFERENCES files(id) ON DELETE CASCADE,
    path        TEXT,                   -- for findings not about one file (a series' folder, ...)
    tag         TEXT,                   -- 'GGGG,EEEE'
    tag_path    TEXT,                   -- inside sequences: '(0008,1115)[1]/(0008,1150)'
    keyword     TEXT,
    series_uid  TEXT,
    study_uid   TEXT,
    grp         TEXT,                   -- duplicate set id
    ack_id      INTEGER,                -- the acknowledgement that covers it, if any
    created     REAL NOT NULL
);
-- Listing order is (rank DESC, code, id): the whole list, one rule, one file, series or study
-- are each an index range, so a page costs the same with a million findings.
CREATE INDEX findings_page ON findings(rank DESC, code, id);
CREATE INDEX findings_code ON findings(code, rank DESC, id);
CREATE INDEX findings_counts ON findings(rank, code, ack_id);
CREATE INDEX findings_file ON findings(file_id);
CREATE INDEX findings_series ON findings(series_uid, source);
CREATE INDEX findings_study ON findings(study_uid, source);
CREATE INDEX findings_source ON findings(source);
CREATE INDEX findings_subject ON findings(code, subject);
CREATE INDEX findings_group ON findings(grp) WHERE grp IS NOT NULL;

-- A curator's acknowledgement of a rule at a subject (and optionally one tag; '' = any tag).
-- Never deleted; survives rescans because subjects are paths and UIDs, not row ids.
CREATE TABLE acknowledgements (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    tag         TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL,
    at          REAL NOT NULL,
    user        TEXT,
    UNIQUE (code, subject, tag)
);

-- Series and studies whose cross-file findings must be recomputed (written by the scan).
CREATE TABLE check_pending (
    kind        TEXT NOT NULL CHECK (kind IN ('series', 'study', 'dataset')),
    uid         TEXT NOT NULL,
    PRIMARY KEY (kind, uid)
) WITHOUT ROWID;

-- The cross-file passes look instances up by series and study UID.
CREATE INDEX instances_series_uid ON instances(series_uid);
CREATE INDEX instances_study_uid ON instances(study_uid);

-- Content hashes (xxh3-128, hex) for duplicate detection, valid while files.scanned_at matches.
CREATE TABLE file_hashes (
    file_id         INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    scanned_at      REAL NOT NULL,
    content_hash    TEXT,
    pixel_hash      TEXT,               -- pixel data (DICOM) or voxel data (NIfTI/Analyze)
    pixel_constant  INTEGER             -- 1 when every pixel byte is the same
);
CREATE INDEX file_hashes_content ON file_hashes(content_hash);
CREATE INDEX file_hashes_pixel ON file_hashes(pixel_hash);

-- Files the --deep pass has looked at, valid while files.scanned_at matches.
CREATE TABLE deep_checked (
    file_id     INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    scanned_at  REAL NOT NULL
);

-- Every catalogued DICOM file's series is pending once, so catalogues scanned before findings
-- existed get their cross-file findings on the next scan or check.
INSERT OR IGNORE INTO check_pending(kind, uid) SELECT 'series', series_uid FROM series;
INSERT OR IGNORE INTO check_pending(kind, uid) SELECT 'study', study_uid FROM studies;
INSERT OR IGNORE INTO check_pending(kind, uid) VALUES ('dataset', '');
"#;

/// Version 3: PHI review (issue 5): findings per file, the reveal audit trail, the de-identification
/// plan. Findings never hold values (only a hash prefix to count distinct values).
const V3: &str = r#"
CREATE TABLE phi_scanned (
    file_id     INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
    scanned_at  REAL NOT NULL           -- files.scanned_at when the findings were made
);

CREATE TABLE phi_findings (
    id            INTEGER PRIMARY KEY,
    file_id       INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    tag           INTEGER NOT NULL,     -- 0 when not an element (burned-in, face, NIfTI field)
    keyword       TEXT NOT NULL,        -- keyword, private:CREATOR, or NIfTI field
    seq_path      TEXT,                 -- enclosing sequences: GGGG,EEEE[i].GGGG,EEEE[j]
    reason        TEXT NOT NULL,        -- attribute, private, text_leak, path_leak, burned_in, face, volume_text
    action        TEXT NOT NULL,        -- Basic Profile action (D Z X K C U; - for risks)
    table_action  TEXT NOT NULL,        -- as PS3.15 Table E.1-1 gives it (X/Z/D ...)
    creator       TEXT,                 -- private creator
    detail        TEXT NOT NULL,        -- never a value
    value_hash    TEXT                  -- SHA-256 prefix of the value, to count distinct values
);
CREATE INDEX phi_findings_file ON phi_findings(file_id);
CREATE INDEX phi_findings_attr ON phi_findings(reason, keyword);

-- Every reveal of a masked value: who, when, what (never the value). No foreign key: the
-- audit trail outlives the files.
CREATE TABLE phi_reveals (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    who         TEXT NOT NULL,
    file_id     INTEGER NOT NULL,
    path        TEXT,
    tag         INTEGER NOT NULL,
    keyword     TEXT NOT NULL,
    seq_path    TEXT
);

-- The de-identification plan: per attribute (GGGG,EEEE), private creator (private:NAME) or
-- NIfTI field, an action overriding the profile.
CREATE TABLE deid_plan (
    target      TEXT PRIMARY KEY,
    action      TEXT NOT NULL CHECK (action IN ('keep', 'remove', 'empty', 'replace', 'shift_date')),
    value       TEXT,
    updated     REAL NOT NULL
);
"#;

/// Version 4: labelling (issue 7): the label scheme, current labels per item, label set and
/// annotator (plus adjudicated final labels), and the append-only history of every change.
/// Items are keyed by what survives a rescan: the file's path (instance, volume), the Series
/// or Study Instance UID, or the Patient ID, never a row id.
const V4: &str = r#"
-- The scheme as loaded (TOML text), one row.
CREATE TABLE label_scheme (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    toml        TEXT NOT NULL,
    loaded      REAL NOT NULL,
    loaded_by   TEXT
);

-- The scheme's sets and categories, rewritten with label_scheme (for queries).
CREATE TABLE label_sets (
    name        TEXT PRIMARY KEY,
    position    INTEGER NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('instance', 'series', 'study', 'patient', 'volume')),
    multi       INTEGER NOT NULL,
    description TEXT
);
CREATE TABLE label_categories (
    set_name    TEXT NOT NULL REFERENCES label_sets(name) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    hotkey      TEXT NOT NULL UNIQUE,
    description TEXT,
    PRIMARY KEY (set_name, name)
) WITHOUT ROWID;

-- Current labels: one row per (item, set, annotator), and at most one final (adjudicated)
-- row per (item, set). A cleared label's row is deleted; its history stays.
CREATE TABLE labels (
    id          INTEGER PRIMARY KEY,
    item        TEXT NOT NULL,          -- path (instance, volume), series/study UID, patient ID
    set_name    TEXT NOT NULL,
    level       TEXT NOT NULL,
    final       INTEGER NOT NULL DEFAULT 0,
    annotator   TEXT NOT NULL,          -- for a final row: who adjudicated
    category    TEXT,                   -- NULL: only a note or the uncertain flag; multi: 'a;b'
    uncertain   INTEGER NOT NULL DEFAULT 0,
    note        TEXT,
    at          REAL NOT NULL,
    UNIQUE (item, set_name, final, annotator)
);
CREATE UNIQUE INDEX labels_one_final ON labels(item, set_name) WHERE final = 1;
CREATE INDEX labels_set ON labels(set_name, final, category);
CREATE INDEX labels_annotator ON labels(annotator, set_name);

-- Every change to labels, never updated or deleted: the audit trail.
CREATE TABLE label_history (
    id          INTEGER PRIMARY KEY,
    at          REAL NOT NULL,
    item        TEXT NOT NULL,
    set_name    TEXT NOT NULL,
    level       TEXT NOT NULL,
    final       INTEGER NOT NULL,
    annotator   TEXT NOT NULL,
    action      TEXT NOT NULL,          -- assign, clear, uncertain, note, adjudicate, import, undo, redo
    old_category TEXT,
    category    TEXT,                   -- the state after the change
    uncertain   INTEGER NOT NULL,
    note        TEXT,
    session     TEXT                    -- the labelling session (process) that made it
);
CREATE INDEX label_history_item ON label_history(item, set_name);
CREATE INDEX label_history_annotator ON label_history(annotator, at);
"#;

/// The PHI summary kept between sessions: the per-dataset GROUP BY over every PHI finding
/// takes about a minute on a million files, so `phi_refresh` stores it with a fingerprint
/// of what it was computed from, and the PHI screen reads it while the fingerprint holds.
const V5: &str = r#"
CREATE TABLE phi_summary_cache (
    reason           TEXT NOT NULL,
    tag              INTEGER NOT NULL,
    keyword          TEXT NOT NULL,
    action           TEXT NOT NULL,
    table_action     TEXT NOT NULL,
    creator          TEXT,
    files            INTEGER NOT NULL,
    distinct_values  INTEGER NOT NULL
);
CREATE TABLE phi_summary_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint  TEXT NOT NULL
);
"#;
