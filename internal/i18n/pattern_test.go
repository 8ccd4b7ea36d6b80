package i18n

import "testing"

// TestTranslateBuiltTexts: texts built at run time in English are translated by the pattern of
// their key, the values themselves looked up too.
func TestTranslateBuiltTexts(t *testing.T) {
	for _, tt := range []struct {
		lang       Lang
		text, want string
	}{
		{German, "Too many failed sign-ins. Try again in 45 seconds.", "Zu viele fehlgeschlagene Anmeldungen. Versuchen Sie es in 45 Sekunden erneut."},
		{French, "Use at least 15 characters.", "Utilisez au moins 15 caractères."},
		{German, "After 100 failed attempts in a row, recovery codes is turned off for your account.", "Nach 100 Fehlversuchen in Folge ist „Wiederherstellungscodes“ für Ihr Konto ausgeschaltet."},
		{French, "codes by text message turned off", "codes par SMS : désactivé"},
		{German, "A text nobody translated.", "A text nobody translated."},
		{English, "Use at least 15 characters.", "Use at least 15 characters."},
	} {
		if got := Translate(tt.lang, tt.text); got != tt.want {
			t.Errorf("Translate(%s, %q) = %q, want %q", tt.lang, tt.text, got, tt.want)
		}
	}
}
