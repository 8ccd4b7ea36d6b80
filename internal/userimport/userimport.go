package userimport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/fintech-idp/idp/internal/idp"
	"github.com/fintech-idp/idp/internal/password"
	"github.com/fintech-idp/idp/internal/sms"
	"github.com/fintech-idp/idp/internal/store"
)

// Columns are the names the input is read with (after --map): email, password_hash and
// email_verified are required, the rest optional.
var Columns = []string{"email", "password_hash", "email_verified", "phone", "mfa_enabled", "created_at"}

var required = []string{"email", "password_hash", "email_verified"}

// Formats of the input.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// DefaultBatchSize is how many lines one transaction writes.
const DefaultBatchSize = 1000

// maxLineBytes bounds one JSON line (a Flask user row is a few hundred bytes).
const maxLineBytes = 64 << 10

// Options say how to read and what to write.
type Options struct {
	Format string            // FormatCSV or FormatJSONL
	Map    map[string]string // our column name → the input's column name
	Update bool              // write existing users that differ
	DryRun bool              // check and report; write nothing

	// DefaultRegion reads national phone numbers (IDP_PHONE_DEFAULT_REGION); AllowedCountries
	// (VONAGE_ALLOWED_COUNTRIES, empty = every country) are the countries a two-step user's
	// phone may be in.
	DefaultRegion    string
	AllowedCountries []string

	BatchSize int              // 0 = DefaultBatchSize
	Now       func() time.Time // nil = time.Now
	NewID     func() string    // nil = uuid.NewString
}

// Rejected is one line that was not imported, and why.
type Rejected struct {
	Line   int
	Reason string
}

// Report counts what happened to each line.
type Report struct {
	Lines     int // data lines read (blank lines of JSON Lines not counted)
	Created   int
	Updated   int
	Unchanged int // existing users that already matched, and (Differs of them) those that differ but --update was not given
	Differs   int
	TwoStep   int // lines with mfa_enabled that were created or updated
	Rejected  []Rejected
}

// ParseMap reads "ours=theirs,ours=theirs" (as --map takes it) into m, refusing unknown names of
// ours and a name mapped twice.
func ParseMap(spec string, m map[string]string) error {
	for pair := range strings.SplitSeq(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		ours, theirs, ok := strings.Cut(pair, "=")
		ours, theirs = strings.TrimSpace(ours), strings.TrimSpace(theirs)
		switch {
		case !ok || ours == "" || theirs == "":
			return fmt.Errorf("--map %q: want column=source_column", pair)
		case !slices.Contains(Columns, ours):
			return fmt.Errorf("--map %q: %q is not one of %s", pair, ours, strings.Join(Columns, ", "))
		case m[ours] != "":
			return fmt.Errorf("--map: %s is mapped twice", ours)
		}
		m[ours] = theirs
	}
	return nil
}

// FormatOf chooses the format from a file name: .csv is CSV, .jsonl, .ndjson and .json are JSON
// Lines; anything else is "" (say --format).
func FormatOf(name string) string {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".csv"):
		return FormatCSV
	case strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".ndjson"), strings.HasSuffix(lower, ".json"):
		return FormatJSONL
	}
	return ""
}

// record is one data line, by our column names.
type record struct {
	line   int
	fields map[string]string
	err    string // set when the line could not be read at all
}

// Run reads r, checks every line and (unless DryRun) writes the users through st. The error is
// for what stops the whole run (an unreadable input, a CSV header without a required column, the
// database); rejected lines are in the report.
func Run(ctx context.Context, st store.Store, r io.Reader, o Options) (Report, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewID == nil {
		o.NewID = uuid.NewString
	}
	var recs []record
	var err error
	switch o.Format {
	case FormatCSV:
		recs, err = readCSV(r, o.Map)
	case FormatJSONL:
		recs, err = readJSONL(r, o.Map)
	default:
		return Report{}, fmt.Errorf("unknown format %q (want csv or jsonl)", o.Format)
	}
	if err != nil {
		return Report{}, err
	}
	rep := Report{Lines: len(recs)}
	now := o.Now().UTC()
	// Two lines for one address are not merged, and neither is imported: which one is right is
	// not ours to guess. Counted before any other check, so a broken second line still counts.
	lines := make(map[string][]int, len(recs))
	for _, rec := range recs {
		if rec.err == "" {
			if email := idp.NormalizeEmail(rec.fields["email"]); email != "" {
				lines[email] = append(lines[email], rec.line)
			}
		}
	}
	kept := make([]store.ImportUser, 0, len(recs))
	for _, rec := range recs {
		if rec.err == "" {
			if same := lines[idp.NormalizeEmail(rec.fields["email"])]; len(same) > 1 {
				rep.Rejected = append(rep.Rejected, Rejected{rec.line, "email: the same address is on lines " + joinInts(same) + "; none of them is imported"})
				continue
			}
		}
		u, reason := o.check(rec)
		if reason != "" {
			rep.Rejected = append(rep.Rejected, Rejected{rec.line, reason})
			continue
		}
		u.ID = o.NewID()
		kept = append(kept, u)
	}
	for batch := range slices.Chunk(kept, o.BatchSize) {
		res, err := st.ImportUsers(ctx, batch, o.Update, o.DryRun, now)
		if err != nil {
			return rep, fmt.Errorf("import lines %d to %d: %w", batch[0].Line, batch[len(batch)-1].Line, err)
		}
		for i, r := range res {
			if (r.Outcome == store.ImportCreated || r.Outcome == store.ImportUpdated) && batch[i].MFAEnabled {
				rep.TwoStep++
			}
			switch r.Outcome {
			case store.ImportCreated:
				rep.Created++
			case store.ImportUpdated:
				rep.Updated++
			case store.ImportUnchanged:
				rep.Unchanged++
			case store.ImportDiffers:
				rep.Unchanged++
				rep.Differs++
			default:
				reason := "not written: the database refused it"
				if errors.Is(r.Err, store.ErrConflict) {
					reason = "email: the address was registered while the import ran; run the import again"
				}
				rep.Rejected = append(rep.Rejected, Rejected{r.Line, reason})
			}
		}
	}
	slices.SortFunc(rep.Rejected, func(a, b Rejected) int { return a.Line - b.Line })
	return rep, nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// check turns one record into an ImportUser, or says why not.
func (o Options) check(rec record) (store.ImportUser, string) {
	if rec.err != "" {
		return store.ImportUser{}, rec.err
	}
	f := rec.fields
	u := store.ImportUser{Line: rec.line, Email: idp.NormalizeEmail(f["email"]), PasswordHash: strings.TrimSpace(f["password_hash"])}
	switch {
	case u.Email == "":
		return u, "email: missing"
	case idp.ValidateEmail(u.Email) != nil:
		return u, "email: not a valid address"
	case u.PasswordHash == "":
		return u, "password_hash: missing"
	}
	if err := password.Check(u.PasswordHash); err != nil {
		return u, "password_hash: " + strings.TrimPrefix(strings.TrimPrefix(err.Error(), password.ErrMalformedHash.Error()), ": ")
	}
	var ok bool
	if u.EmailVerified, ok = parseBool(f["email_verified"]); !ok {
		return u, "email_verified: not true or false"
	}
	if u.MFAEnabled, ok = parseBool(f["mfa_enabled"]); !ok {
		return u, "mfa_enabled: not true or false"
	}
	if t, ok := parseTime(f["created_at"]); ok {
		u.CreatedAt = t
	} else {
		return u, "created_at: not a date and time (RFC 3339, or 2006-01-02 15:04:05 in UTC)"
	}
	if !u.MFAEnabled {
		return u, "" // the phone is kept only for two-step; without it the number is not needed
	}
	phone := strings.TrimSpace(f["phone"])
	if phone == "" {
		return u, "phone: missing, and mfa_enabled is true (two-step needs the number)"
	}
	e164, _, err := sms.NormalizePhone(phone, o.DefaultRegion, o.AllowedCountries)
	switch {
	case errors.Is(err, sms.ErrCountryNotAllowed):
		return u, "phone: its country is not in VONAGE_ALLOWED_COUNTRIES" + strings.TrimPrefix(err.Error(), sms.ErrCountryNotAllowed.Error())
	case errors.Is(err, sms.ErrPhoneNotMobile):
		return u, "phone: not a mobile number (cannot receive text messages)"
	case err != nil:
		return u, "phone: not a valid phone number"
	}
	u.PhoneE164 = e164
	return u, ""
}

// parseBool reads the spellings databases export: true/false, t/f (psql), 1/0, yes/no; empty
// (NULL) is false.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "1", "yes", "y":
		return true, true
	case "false", "f", "0", "no", "n", "":
		return false, true
	}
	return false, false
}

// timeLayouts are what psql, SQLAlchemy's JSON and ISO 8601 write; a time without a zone is UTC.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

// parseTime reads created_at; empty is the zero time (the store uses now).
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// sourceNames returns, for each of our columns, the input's name for it.
func sourceNames(m map[string]string) map[string]string {
	names := make(map[string]string, len(Columns))
	for _, c := range Columns {
		names[c] = c
		if m[c] != "" {
			names[c] = m[c]
		}
	}
	return names
}

func readCSV(r io.Reader, m map[string]string) ([]record, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1 // a short or long line is that line's problem, not the file's
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the input is empty (a CSV file starts with a header line)")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the CSV header: %w", err)
	}
	header = slices.Clone(header)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a BOM from a spreadsheet
	}
	names := sourceNames(m)
	pos := map[string]int{}
	for _, c := range Columns {
		i := slices.IndexFunc(header, func(h string) bool { return strings.TrimSpace(h) == names[c] })
		if i < 0 {
			if slices.Contains(required, c) {
				return nil, fmt.Errorf("the CSV header has no column %q (for %s; rename with --map %s=COLUMN)", names[c], c, c)
			}
			continue
		}
		pos[c] = i
	}
	var recs []record
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		line, _ := cr.FieldPos(0)
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if pe.Err == csv.ErrFieldCount {
				line = pe.StartLine
			} else {
				// A broken quote can swallow the rest of the file: stop rather than guess.
				return nil, fmt.Errorf("CSV line %d: %v", pe.StartLine, pe.Err)
			}
		} else if err != nil {
			return nil, err
		}
		rec := record{line: line, fields: make(map[string]string, len(pos))}
		if len(row) != len(header) {
			rec.err = fmt.Sprintf("has %d fields, the header %d", len(row), len(header))
		}
		for c, i := range pos {
			if i < len(row) {
				rec.fields[c] = row[i]
			}
		}
		recs = append(recs, rec)
	}
}

func readJSONL(r io.Reader, m map[string]string) ([]record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	names := sourceNames(m)
	var recs []record
	for n := 1; sc.Scan(); n++ {
		b := bytes.TrimSpace(sc.Bytes())
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		if len(b) == 0 {
			continue
		}
		rec := record{line: n, fields: map[string]string{}}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
			rec.err = "not a JSON object on one line"
			recs = append(recs, rec)
			continue
		}
		for _, c := range Columns {
			v, ok := obj[names[c]]
			if !ok || v == nil {
				continue
			}
			switch v := v.(type) {
			case string:
				rec.fields[c] = v
			case bool:
				rec.fields[c] = strconv.FormatBool(v)
			case json.Number:
				rec.fields[c] = v.String()
			default:
				rec.err = c + ": not a string, number or true/false"
			}
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("a line after line %d is longer than %d bytes", len(recs), maxLineBytes)
		}
		return nil, err
	}
	return recs, nil
}
