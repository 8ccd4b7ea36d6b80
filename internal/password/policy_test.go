package password

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// passphrase returns n bytes of lower-case words chosen by a fixed-seed generator: text that is
// neither common, repetitive nor a sequence, for length tests.
func passphrase(n int) string {
	words := []string{"maple", "river", "quartz", "lantern", "violet", "harbor", "cobalt", "meadow",
		"sparrow", "ember", "glacier", "thistle", "orchid", "pebble", "tundra", "willow", "zephyr",
		"canyon", "falcon", "juniper"}
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()[:n]
}

// emoji returns n emoji (4 bytes each in UTF-8) chosen by a fixed-seed generator.
func emoji(n int) string {
	r := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	for range n {
		b.WriteRune(0x1F400 + r.Int32N(0x80)) // animals, U+1F400 RAT to U+1F47F
	}
	return b.String()
}

// sized fails the test unless s has exactly runes code points and bytes bytes, so that a typo in
// a fixture cannot turn a boundary test into one that always passes.
func sized(t *testing.T, s string, runes, bytes int) string {
	t.Helper()
	if got := utf8.RuneCountInString(Normalize(s)); got != runes {
		t.Fatalf("fixture %.20q… has %d characters after normalisation, want %d", s, got, runes)
	}
	if got := len(Normalize(s)); got != bytes {
		t.Fatalf("fixture %.20q… has %d bytes after normalisation, want %d", s, got, bytes)
	}
	return s
}

func TestPolicyCheck(t *testing.T) {
	const email = "anna.berg+bank@example.com"
	def := Policy{}
	branded := Policy{Brand: " FinTech Bank "}

	tests := []struct {
		name   string
		policy Policy
		pw     string
		email  string
		want   []string // violation codes, in order
	}{
		// Length (§3.1.1.2: at least 15 characters, at least 64 allowed, every code point counts).
		{"passphrase accepted", def, "purple elephant dances at midnight", email, nil},
		{"exactly the minimum", def, sized(t, "tulip-orbit-42x", 15, 15), email, nil},
		{"one below the minimum", def, sized(t, "tulip-orbit-42", 14, 14), email, []string{CodeTooShort}},
		{"empty", def, "", email, []string{CodeTooShort}},
		{"64 characters accepted", def,
			sized(t, "Seven quiet otters paddled past the lighthouse before sunrise!!!", 64, 64), email, nil},
		{"200 characters accepted", def, sized(t, passphrase(200), 200, 200), email, nil},
		{"64 emoji accepted (256 bytes)", def, sized(t, emoji(64), 64, 256), email, nil},
		{"1024 bytes accepted", def, sized(t, passphrase(1024), 1024, 1024), email, nil},
		{"1025 bytes refused", def, sized(t, passphrase(1025), 1025, 1025), email, []string{CodeTooLong}},
		{"custom minimum", Policy{MinLength: 20}, "tulip-orbit-42x-zeta", email, nil},
		{"below custom minimum", Policy{MinLength: 20}, "tulip-orbit-42x-zet", email, []string{CodeTooShort}},
		{"above custom maximum", Policy{MaxLength: 300}, passphrase(301), email, []string{CodeTooLong}},
		{"huge input refused unread", def, strings.Repeat("x", 9000), email, []string{CodeTooLong}},
		{"invalid UTF-8", def, "\xff\xfe marmalade on the moon", email, []string{CodeInvalidText}},
		{"NUL", def, "marmalade on the\x00 moon", email, []string{CodeInvalidText}},
		{"line break", def, "marmalade on the\r\nmoon", email, []string{CodeInvalidText}},
		{"escape", def, "marmalade on the \x1b[2Jmoon", email, []string{CodeInvalidText}},
		{"C1 control", def, "marmalade on the \u0085moon", email, []string{CodeInvalidText}},

		// Unicode: accepted, and counted after NFKC normalisation.
		{"emoji and scripts accepted", def, "🔐 Grüße aus Köln, 東京 и Москва 🚀", email, nil},
		{"space-only words accepted", def, "ein schöner Tag am Meer", email, nil},
		{"decomposed accents count once", def,
			sized(t, "Cre\u0300me bru\u0302le\u0301e 1", 14, 17), email, []string{CodeTooShort}},
		{"full-width common and short", def, "ｐａｓｓｗｏｒｄ", email, []string{CodeTooShort, CodeCommon}},
		{"full-width long common", def, "ｑｗｅｒｔｙ１２３４５６７８９", email, []string{CodeCommon}},

		// The breached/common list.
		{"short common", def, "password", email, []string{CodeTooShort, CodeCommon}},
		{"long common", def, "qwerty123456789", email, []string{CodeCommon}},
		{"common in upper case", def, "QWERTY123456789", email, []string{CodeCommon}},
		{"common with surrounding spaces", def, "   qwerty123456789\t ", email, []string{CodeCommon}},
		{"common with spaces inside", def, "qwerty   123 456 789", email, []string{CodeCommon}},
		{"common as part of a longer one accepted", def, "qwerty123456789 and a pelican", email, nil},

		// Context-specific words.
		{"email local part", def, "greetings from anna.berg+bank", email, []string{CodeEmail}},
		{"email local part before +", def, "greetings from anna.berg to you", email, []string{CodeEmail}},
		{"email in capitals", def, "GREETINGS FROM ANNA.BERG TO YOU", email, []string{CodeEmail}},
		{"email local part with spaces", def, "greetings from anna . berg to you", email, []string{CodeEmail}},
		{"whole email with a short local part", def, "write to bo@example.com today", "bo@example.com", []string{CodeEmail}},
		{"short local part ignored", def, "bo is my nickname forever", "bo@example.com", nil},
		{"no email given", def, "greetings from anna.berg to you", "", nil},
		{"brand", branded, "i love fintechbank so much", email, []string{CodeBrand}},
		{"brand with spaces and capitals", branded, "FIN TECH BANK forever and ever", email, []string{CodeBrand}},
		{"brand not set", def, "i love fintechbank so much", email, nil},
		{"brand shorter than 3 ignored", Policy{Brand: "ab"}, "ab ab cd ef gh ij kl", email, nil},

		// Repetitive and sequential characters.
		{"one repeated character", def, "aaaaaaaaaaaaaaa", email, []string{CodeRepetitive}},
		{"one repeated emoji", def, strings.Repeat("🙂", 16), email, []string{CodeRepetitive}},
		{"spaces only", def, strings.Repeat(" ", 20), email, []string{CodeRepetitive}},
		{"repeated group", def, "abcabcabcabcabcabc", email, []string{CodeRepetitive}},
		{"repeated group cut short", def, "xy7xy7xy7xy7xy7x", email, []string{CodeRepetitive}},
		{"repeated with spaces", def, "a a a a a a a a a a", email, []string{CodeRepetitive}},
		{"phrase said twice accepted", def, "correct horse battery correct horse battery", email, nil},
		{"digit sequence wrapping", def, "123456789012345", email, []string{CodeSequence}},
		{"letter sequence", def, "abcdefghijklmno", email, []string{CodeSequence}},
		{"letter sequence in capitals wrapping", def, "UVWXYZABCDEFGHIJ", email, []string{CodeSequence}},
		{"descending sequence", def, "zyxwvutsrqponmlk", email, []string{CodeSequence}},
		{"descending digits wrapping", def, "321098765432109", email, []string{CodeSequence}},
		{"spaced sequence", def, "k l m n o p q r s t", email, []string{CodeSequence}},
		{"spaced common sequence", def, "1 2 3 4 5 6 7 8 9 0", email, []string{CodeCommon, CodeSequence}},
		{"sequence inside accepted", def, "abcdefgh and then some words", email, nil},

		// Long passwords that the list alone missed: listed passwords with easy decorations,
		// keyboard walks, repetitions, and what the estimator expects to fall quickly.
		{"listed word and a digit run", def, "password1234567", email, []string{CodeVariant}},
		{"keyboard walk over two rows", def, "qwertyuiopasdfgh", email, []string{CodeKeyboard}},
		{"listed phrase and a digit run", def, "iloveyou12345678", email, []string{CodeVariant}},
		{"capital, digit run and symbol", def, "Password123456789!", email, []string{CodeVariant}},
		{"leet spelling and a year", def, "P@ssw0rd2024!!!!", email, []string{CodeVariant}},
		{"decoration before", def, "2024202420dragon", email, []string{CodeVariant}},
		{"listed word and a year", def, "administrator2024!", email, []string{CodeVariant}},
		{"listed word twice", def, "monkeydragonmonkeydragon", email, []string{CodeRepetitive}},
		{"short word doubled", def, "trustno1trustno1", email, []string{CodeRepetitive}},
		{"name and year doubled", def, "Julia1987Julia1987", email, []string{CodeRepetitive}},
		{"keyboard columns", def, "2wsx3edc4rfv5tgb", email, []string{CodeKeyboard}},
		{"keyboard columns down", def, "qazwsxedcrfvtgbyhn", email, []string{CodeKeyboard}},
		{"keyboard bottom rows shifted", def, "ZXCVBNM<>?asdfghjkl", email, []string{CodeKeyboard}},
		{"qwertz walk", def, "qwertzuiopü+asdfgh", email, []string{CodeKeyboard}},
		{"azerty walk", def, "azertyuiopqsdfghjklm", email, []string{CodeKeyboard}},
		{"keypad walk", def, "7894561230147852", email, []string{CodeKeyboard}},
		{"walk with a symbol", def, "asdfghjkl;qwertyu!", email, []string{CodeKeyboard}},
		{"listed words estimated weak", def, "summer love 2024", email, []string{CodeGuessable}},
		{"city, year and city", def, "london2024london", email, []string{CodeGuessable}},
		{"listed word in a passphrase accepted", def, "my password is a purple walrus", email, nil},
		{"random characters accepted", def, "vM7#pq2L!xz9Rt4w", email, nil},
		{"long passphrase skips the estimator", def, passphrase(65), email, nil},

		// Every problem at once.
		{"several at once", branded, "annaFinTechBank", "anna@example.com", []string{CodeEmail, CodeBrand}},
		{"short, email and brand", branded, "annaFinTech", "anna@example.com", []string{CodeTooShort, CodeEmail}},
		{"short, common and sequence", def, "1234567890", email, []string{CodeTooShort, CodeCommon, CodeSequence}},
		{"short, common, email and brand", Policy{Brand: "Money"}, "Money123", "money123@example.com",
			[]string{CodeTooShort, CodeCommon, CodeEmail, CodeBrand}},
	}

	messages := map[string]string{} // policy and code → message, to check messages are fixed
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.policy.Check(context.Background(), tt.pw, tt.email)
			if err != nil {
				t.Fatalf("Check() error = %v without a breach checker", err)
			}
			var codes []string
			for _, v := range got {
				codes = append(codes, v.Code)
			}
			if !slices.Equal(codes, tt.want) {
				t.Errorf("Check() codes = %q, want %q", codes, tt.want)
			}
			if tt.want == nil && got != nil {
				t.Errorf("Check() = %#v, want nil", got)
			}
			norm := strings.ToLower(Normalize(tt.pw))
			for _, v := range got {
				if v.Message == "" {
					t.Errorf("violation %s has no message", v.Code)
				}
				// Too short to tell an echo from an ordinary word of the message ("password").
				if utf8.RuneCountInString(norm) >= 10 &&
					(strings.Contains(strings.ToLower(v.Message), norm) || strings.Contains(v.Message, tt.pw)) {
					t.Errorf("message of %s repeats the password: %q", v.Code, v.Message)
				}
				key := fmt.Sprintf("%+v %s", tt.policy, v.Code)
				if prev, ok := messages[key]; ok && prev != v.Message {
					t.Errorf("message of %s depends on the password: %q and %q", v.Code, prev, v.Message)
				}
				messages[key] = v.Message
			}
		})
	}
}

func TestPolicyMessages(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		code   string
		want   string
	}{
		{"default minimum", Policy{}, CodeTooShort, "Use at least 15 characters."},
		{"custom minimum", Policy{MinLength: 20}, CodeTooShort, "Use at least 20 characters."},
		{"default maximum", Policy{}, CodeTooLong,
			"This is too long. Use at most 1024 characters, fewer if you use emoji or letters outside the Latin alphabet."},
		{"brand trimmed", Policy{Brand: "  FinTech Bank "}, CodeBrand, "Do not use the name “FinTech Bank”."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.message(tt.code); got != tt.want {
				t.Errorf("message(%s) = %q, want %q", tt.code, got, tt.want)
			}
		})
	}
	for _, code := range []string{CodeInvalidText, CodeTooShort, CodeTooLong, CodeCommon, CodeEmail,
		CodeBrand, CodeRepetitive, CodeSequence} {
		if (Policy{Brand: "x"}).message(code) == "" {
			t.Errorf("code %s has no message", code)
		}
	}
}

func TestPolicyRule(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		want   string
	}{
		{"default", Policy{}, "Use at least 15 characters. Any characters, including spaces and emoji, " +
			"are allowed; common, breached or easily guessed passwords are refused."},
		{"custom", Policy{MinLength: 20}, "Use at least 20 characters. Any characters, including spaces " +
			"and emoji, are allowed; common, breached or easily guessed passwords are refused."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Rule(); got != tt.want {
				t.Errorf("Rule() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsRepetitive(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"aa", false},
		{"aaa", true},
		{"abab", false},
		{"ababab", true},
		{"ababa", false}, // period 2 but only 2½ repetitions
		{"abcdabcdabcd", true},
		{"abcdabcdabc", false},
		{"abcdeabcdeabcde", true},
		{"aaaaaaaaaaaaaab", false},
		{"baaaaaaaaaaaaaa", false},
		{"aabaabaabaab", true},
		{"aabaacaabaab", false},
	}
	for _, tt := range tests {
		if got := isRepetitive([]rune(tt.in)); got != tt.want {
			t.Errorf("isRepetitive(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestIsSequence(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"ab", false},
		{"abc", true},
		{"cba", true},
		{"890123", true},
		{"210987", true},
		{"xyzabc", true},
		{"abd", false},
		{"abcba", false},
		{"aaa", false},
		{"9:;<", false}, // after '9' a sequence wraps to '0', not to the next code point ':'
		{"!\"#$%", true},
		{"αβγδε", true},
	}
	for _, tt := range tests {
		if got := isSequence([]rune(tt.in)); got != tt.want {
			t.Errorf("isSequence(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func BenchmarkPolicyCheck(b *testing.B) {
	p := Policy{Brand: "FinTech Bank"}
	p.Check(context.Background(), "warm up the list", "") // the one-time list load is measured in package breached
	benchmarks := []struct {
		name string
		pw   string
	}{
		{"passphrase", "purple elephant dances at midnight"},
		{"common", "qwerty123456789"},
		{"1024 bytes", passphrase(1024)},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Check(context.Background(), bm.pw, "anna.berg@example.com")
			}
		})
	}
}
