// An independent judge of the cards Labelbook writes: ez-vcard (the vCard library of many Android and Java
// clients) parses each file and validates it against the version it declares (RFC 2426 for 3.0, RFC 6350 for 4.0).
// Usage: java -cp ez-vcard.jar:vinnie.jar Validate.java DIR; prints every warning, exits 1 if there is any.
import ezvcard.VCard;
import ezvcard.io.ParseWarning;
import ezvcard.io.text.VCardReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

public class Validate {
    /**
     * TYPE values the client wrote and the other version does not list for that property (EMAIL;TYPE=work in 3.0,
     * TEL;TYPE=msg in 4.0): both RFCs allow registered and x-name values (RFC 2426 §3.3.2 iana-type, RFC 6350
     * §5.6), and Labelbook keeps the client's words rather than lose them. Never "pref", which has a mapping.
     */
    static boolean tolerated(String warning) {
        return warning.contains("W09:") && !warning.contains("(\"pref\")");
    }

    public static void main(String[] args) throws Exception {
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of(args[0]))) {
            s.filter(p -> p.toString().endsWith(".vcf")).sorted().forEach(files::add);
        }
        int bad = 0;
        for (Path file : files) {
            String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
            List<String> problems = new ArrayList<>();
            List<VCard> cards = new ArrayList<>();
            try (VCardReader reader = new VCardReader(text)) {
                VCard card;
                while ((card = reader.readNext()) != null) {
                    cards.add(card);
                    for (ParseWarning w : reader.getWarnings()) {
                        problems.add("parse: " + w);
                    }
                }
            }
            if (cards.size() != 1) {
                problems.add("holds " + cards.size() + " cards, not one");
            } else {
                VCard card = cards.get(0);
                for (String w : card.validate(card.getVersion()).toString().split("\n")) {
                    if (!w.isBlank() && !tolerated(w)) {
                        problems.add("validate " + card.getVersion() + ": " + w);
                    }
                }
            }
            if (!problems.isEmpty()) {
                bad++;
                System.out.println("== " + file.getFileName());
                problems.forEach(p -> System.out.println("  " + p));
            }
        }
        System.out.println("validated " + files.size() + " cards, " + bad + " with problems");
        System.exit(bad == 0 && !files.isEmpty() ? 0 : 1);
    }
}
