package password

import (
	"strings"
	"unicode"

	"github.com/fintech-idp/idp/internal/password/breached"
)

// The rules in this file extend the bundled list of breached passwords (package breached) to
// long passwords without shipping a bigger file: most of its 49,271 entries are shorter than the
// 15-character minimum, but the long passwords attackers try first are built from them and from
// the keyboard in a few mechanical ways. Instead of listing those, the rules undo the mechanics:
//
//   - keyboard walks: "qwertyuiopasdfgh", "1qaz2wsx3edc4rfv", "zxcvbnm,./" on QWERTY, QWERTZ,
//     AZERTY and the numeric keypad, shifted or not;
//   - a listed password or word with easy decorations: "password1234567", "Password123456789!",
//     "iloveyou12345678", "2024p@ssw0rd!!", "!!!dragon2024" (digits and symbols that are short,
//     a run such as 123456789 or a repetition such as 0000 or 2024 2024, before or after);
//   - a listed password repeated: "passwordpassword", "trustno1trustno1";
//   - anything doubled whose half is shorter than the minimum length: "Julia1987Julia1987" is no
//     stronger than "Julia1987".

// maxDecoration is the length of digits and symbols around a listed password that counts as
// decoration whatever it is: four characters add at most about 10⁷ guesses (95⁴ ≈ 8·10⁷ for any
// printable characters; attackers try digits, years and "!" first).
const maxDecoration = 4

// keyboardRows are physical keyboard layouts, one string per row from the top, with the
// horizontal offset (in key widths) of each row's first key. Shifted characters are folded onto
// their unshifted key by unshift first.
var keyboardLayouts = []struct {
	rows    []string
	offsets []float64
}{
	{ // QWERTY (US)
		rows:    []string{"`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./"},
		offsets: []float64{0, 1.5, 1.75, 2.25},
	},
	{ // QWERTZ (German)
		rows:    []string{"^1234567890ß´", "qwertzuiopü+", "asdfghjklöä#", "<yxcvbnm,.-"},
		offsets: []float64{0, 1.5, 1.75, 1.25},
	},
	{ // AZERTY (French), digits as typed with Shift
		rows:    []string{"²1234567890°+", "azertyuiop^$", "qsdfghjklmù*", "<wxcvbn,;:!"},
		offsets: []float64{0, 1.5, 1.75, 1.25},
	},
	{ // numeric keypad
		rows:    []string{"789", "456", "123", "0"},
		offsets: []float64{0, 0, 0, 0},
	},
}

// shifted maps the characters typed with Shift on a US keyboard to their key.
var shifted = strings.NewReplacer(
	"~", "`", "!", "1", "@", "2", "#", "3", "$", "4", "%", "5", "^", "6", "&", "7", "*", "8", "(", "9",
	")", "0", "_", "-", "+", "=", "{", "[", "}", "]", "|", "\\", ":", ";", "\"", "'", "<", ",", ">", ".",
	"?", "/")

type keyPos struct{ row, x float64 }

// keyMaps holds, per layout, where each key is.
var keyMaps = func() []map[rune]keyPos {
	maps := make([]map[rune]keyPos, len(keyboardLayouts))
	for i, l := range keyboardLayouts {
		m := map[rune]keyPos{}
		for r, row := range l.rows {
			for c, k := range []rune(row) {
				if _, dup := m[k]; !dup {
					m[k] = keyPos{row: float64(r), x: l.offsets[r] + float64(c)}
				}
			}
		}
		maps[i] = m
	}
	return maps
}()

// adjacent reports whether a and b are the same key or neighbours (left, right, or touching in
// the row above or below) in layout m.
func adjacent(m map[rune]keyPos, a, b rune) bool {
	pa, okA := m[a]
	pb, okB := m[b]
	if !okA || !okB {
		return false
	}
	dr, dx := pa.row-pb.row, pa.x-pb.x
	if dx < 0 {
		dx = -dx
	}
	switch dr {
	case 0:
		return dx <= 1
	case 1, -1:
		return dx <= 1 // staggered rows overlap by up to one key; the keypad is a grid
	}
	return false
}

// minWalkRun is the shortest stretch of neighbouring keys that counts as part of a walk.
const minWalkRun = 3

// isKeyboardWalk reports whether s (lower case, whitespace removed) is made of runs of
// neighbouring keys on one keyboard layout, each at least minWalkRun keys long, with at most two
// characters outside them ("qwertyuiop!!" and "1qaz2wsx3edc4rfv" are walks; a passphrase is not).
func isKeyboardWalk(s string) bool {
	rs := []rune(shifted.Replace(s))
	if len(rs) < 2*minWalkRun {
		return false
	}
	for _, m := range keyMaps {
		covered, run := 0, 1
		for i := 1; i <= len(rs); i++ {
			if i < len(rs) && adjacent(m, rs[i-1], rs[i]) {
				run++
				continue
			}
			if run >= minWalkRun {
				covered += run
			}
			run = 1
		}
		if covered >= len(rs)-2 {
			return true
		}
	}
	return false
}

// unleet undoes the usual letter-for-symbol swaps ("p@ssw0rd" → "password"). Each ambiguous
// symbol ('1' is i or l) yields one variant per reading.
var unleet = []*strings.Replacer{
	strings.NewReplacer("4", "a", "@", "a", "3", "e", "1", "i", "!", "i", "0", "o", "5", "s", "$", "s", "7", "t", "+", "t", "8", "b", "9", "g"),
	strings.NewReplacer("4", "a", "@", "a", "3", "e", "1", "l", "!", "l", "|", "l", "0", "o", "5", "s", "$", "s", "7", "t", "+", "t", "8", "b", "9", "g"),
}

// isDecoratedCommon reports whether s (lower case, whitespace removed) is a listed password, or a
// listed password repeated, with only weak decoration before and after it (see weakDecoration).
func isDecoratedCommon(s string) bool {
	start := strings.IndexFunc(s, unicode.IsLetter)
	end := strings.LastIndexFunc(s, unicode.IsLetter)
	if start < 0 {
		return false // no word: the sequence, repetition and walk rules judge digits and symbols
	}
	_, size := firstRune(s[end:])
	prefix, core, suffix := s[:start], s[start:end+size], s[end+size:]
	if !weakDecoration(prefix, suffix) {
		return false
	}
	for _, c := range append([]string{core}, unleetAll(core)...) {
		if breached.Contains(c) {
			return true
		}
		if p := smallestPeriod([]rune(c)); p < len([]rune(c)) && len([]rune(c))%p == 0 && breached.Contains(string([]rune(c)[:p])) {
			return true
		}
	}
	return false
}

func unleetAll(s string) []string {
	out := make([]string, 0, len(unleet))
	for _, r := range unleet {
		if v := r.Replace(s); v != s {
			out = append(out, v)
		}
	}
	return out
}

func firstRune(s string) (rune, int) {
	for _, r := range s {
		return r, len(string(r))
	}
	return 0, 0
}

// weakDecoration reports whether prefix and suffix together add little to a listed password:
// at most maxDecoration characters in all, or each of them a run (123456789), a repetition
// (0000, 2024 2024) or short, once up to maxDecoration symbols at its outer end are set aside
// ("123456789!!!").
func weakDecoration(prefix, suffix string) bool {
	if len([]rune(prefix))+len([]rune(suffix)) <= maxDecoration {
		return true
	}
	return weakAffix(prefix, true) && weakAffix(suffix, false)
}

func weakAffix(a string, isPrefix bool) bool {
	rs := []rune(a)
	// Set aside symbols (not digits) at the outer end.
	n := 0
	for n < len(rs) && n < maxDecoration {
		i := len(rs) - 1 - n
		if isPrefix {
			i = n
		}
		if unicode.IsDigit(rs[i]) {
			break
		}
		n++
	}
	if isPrefix {
		rs = rs[n:]
	} else {
		rs = rs[:len(rs)-n]
	}
	return len(rs) <= maxDecoration || isSequence(rs) || isRepetitive(rs) || isDoubled(rs, len(rs))
}

// smallestPeriod is the smallest p such that s[i] == s[i+p] for every i, computed with the
// Knuth–Morris–Pratt prefix function: n − π(n−1).
func smallestPeriod(s []rune) int {
	n := len(s)
	if n == 0 {
		return 0
	}
	pi := make([]int, n)
	for i := 1; i < n; i++ {
		k := pi[i-1]
		for k > 0 && s[i] != s[k] {
			k = pi[k-1]
		}
		if s[i] == s[k] {
			k++
		}
		pi[i] = k
	}
	return n - pi[n-1]
}

// isDoubled reports whether s is a group of fewer than minLen characters written at least twice
// (the last copy possibly cut short): such a password is about as strong as the group alone.
func isDoubled(s []rune, minLen int) bool {
	if len(s) < 2 {
		return false
	}
	p := smallestPeriod(s)
	return 2*p <= len(s) && p < minLen
}
