"""Language-independent evidence: what kind of event, where, in any of our languages.

Two small multilingual word lists, written from general knowledge of how the
news in our languages (English, Arabic, French, German, Turkish, Spanish) names
the events and places this monitor deals with, not from the evaluation set:

* CONCEPTS: kinds of event and report ("rocket", "killed", "denial", "handover").
  An Arabic and an English report of one attack share few characters, but both
  say "rocket" and "killed" in their own words; with the tracked entity ids,
  numbers and places they are the cross-language evidence.
* PLACES: towns, provinces and capitals that appear in this news but are not
  tracked entities (Baghdad, Anbar, Hasakah, Tehran, ...).

Notation: a word ending in "*" matches any word that starts with it ("rocket*"
= rocket, rockets, rocketed); other entries match whole words or whole phrases.
Stems are compared after folding, which drops accents, so a stem must not be
the start of a common word of another language ("tué*" would match "Tuesday":
French forms are listed whole).
Entries are folded like the text (case, accents, Arabic letter forms), and
Arabic-script entries also match with a proclitic glued on (و، ب، ل، ...).

The concept "repeat" marks a report of a *new* occurrence ("a second attack",
"again", "هجوم جديد", "erneut"). Like every kind of event, in a title it makes
the article a new development for a story that never mentioned it.
"""

from __future__ import annotations

CONCEPTS: dict[str, tuple[str, ...]] = {
    "attack": (
        "attack*", "assault*", "targeted", "targeting", "struck",
        "هجوم*", "هجمات", "قصف*", "استهداف*", "استهدف*", "يستهدف*", "تستهدف*", "اعتداء*",
        "attaque*", "attentat*", "assaut*", "visé*", "bombardement*", "pilonn*",
        "angriff*", "anschlag*", "attacke*", "raketenangriff*", "drohnenangriff*", "raketenbeschuss", "beschuss", "beschossen",
        "saldırı*", "saldırd*", "hedef aldı*",
        "ataque*", "atentado*",
    ),
    "projectile": (
        "rocket*", "missile*", "katyusha*", "projectile*", "mortar*",
        "صاروخ*", "صواريخ*", "قذيف*", "كاتيوشا", "هاون",
        "roquette*", "missile*", "katioucha*", "obus",
        "rakete*", "raketen*", "katjuscha*", "mörser*", "geschoss*",
        "roket*", "füze*", "havan*",
        "cohete*", "misil*",
    ),
    "drone": (
        "drone*", "uav*", "unmanned",
        "مسيره", "مسيرات", "طائرة مسيرة", "طائرات مسيرة", "درون*",
        "drone*",
        "drohne*",
        "iha", "siha", "insansız",
        "dron*",
    ),
    "airstrike": (
        "airstrike*", "air strike*", "air raid*", "retaliatory strike*", "precision strike*", "u s strike*", "us strike*",
        "american strike*", "bombed", "bombing*",
        "غاره*", "غارات*", "ضربه جويه", "ضربات جويه", "ضربات*",
        "frappe*", "raid*",
        "luftangriff*", "luftschlag*", "luftschläge*", "vergeltungsschlag*", "bombardier*",
        "hava saldırı*", "hava harekat*", "bombaladı*",
        "bombardeo*", "ataque aéreo*",
    ),
    "killed": (
        "kill*", "dead", "death*", "died", "dies", "fatalit*", "toll",
        "مقتل", "قتل*", "قتلي", "مصرع", "حصيله", "وفاه", "توفي", "لقي حتفه", "لقوا حتفهم", "سقوط قتلي", "استشهاد", "شهداء",
        "tué", "tués", "tuée", "tuées", "tue", "tuent", "mort", "morts", "décès", "bilan", "péri", "périssent",
        "getötet*", "tot", "tote", "toten", "starb*", "ums leben", "todesopfer*",
        "öldü*", "hayatını kaybet*", "ölü*",
        "muert*", "fallec*",
    ),
    "wounded": (
        "wound*", "injur*", "hurt",
        "جرحي", "جريح", "اصابه", "اصابات", "مصاب*", "جرح*", "اصيب*", "يصاب",
        "bless*",
        "verletzt*", "verwundet*",
        "yaralan*", "yaralı*",
        "herid*",
    ),
    "denial": (
        "deny", "denies", "denied", "denial*", "rejects responsibility", "not responsible", "no role",
        "نفي*", "نفت", "تنفي", "ينفي", "نفيه", "تنصل*", "لا علاقه",
        "dément", "démentent", "démenti", "démentit", "démentie", "démentir", "nient", "rejette toute responsabilité",
        "bestreit*", "bestritt*", "dementier*", "weist jede verantwortung",
        "yalanla*", "reddett*", "sorumluluğu reddet*",
        "niega*", "desmient*",
    ),
    "claim": (
        "claim*", "took responsibility",
        "تبني*", "تبنت", "يتبني", "اعلنت مسؤوليتها", "اعلن مسؤوليته",
        "revendiqu*", "revendication*",
        "bekennt*", "bekenner*", "bekannte sich", "reklamier*",
        "üstlen*",
        "reivindic*",
    ),
    "handover": (
        "hand over", "hands over", "handed over", "handing over", "handover*", "hand-over*", "turned over",
        "turns over", "transfer*", "take control", "takes control", "took control", "taking control", "takes over",
        "took over", "taking over",
        "تسليم", "تسلم*", "يسلم", "سلم", "سلمت", "تسلمت", "استلام", "استلم*",
        "remet", "remis", "remise", "rétrocède*", "rétrocession*", "transfert*", "transfère*", "cède", "cédé*",
        "übergab*", "übergeb*", "übergabe*", "übergibt", "übertrag*",
        "devret*", "devir*", "teslim*",
        "entreg*", "traspas*",
    ),
    "withdrawal": (
        "withdraw*", "pull out", "pulls out", "pulled out", "pullout*", "drawdown*", "leaving",
        "redeploy*", "reposition*", "departure*",
        "انسحاب*", "سحب*", "تنسحب", "ينسحب", "مغادره", "غادر*", "اعاده تموضع", "تقليص",
        "retrait*", "retire*", "quitte*", "départ*", "redéploie*",
        "abzug*", "zieht*", "rückzug*", "verlass*", "verließ*", "verlegt*",
        "çekil*", "ayrıl*",
        "retirada*", "retira*",
    ),
    "arrest": (
        "arrest*", "detain*", "captur*", "custody",
        "اعتقال*", "اعتقل*", "القبض", "قبض", "توقيف", "احتجاز",
        "arrest*", "interpell*", "capturé*",
        "festgenommen", "festnahme*", "verhaftet*", "gefasst",
        "gözaltı*", "yakala*", "tutuklan*",
        "detenid*", "arrestad*",
    ),
    "visit": (
        "visit*", "arriv*", "met with", "meets", "talks with",
        "زيار*", "زار", "يزور", "وصل", "يلتقي", "التقي",
        "visite*", "rencontr*",
        "besuch*", "trifft", "traf",
        "ziyaret*",
        "visita*",
    ),
    "prison": (
        "prison*", "jail*", "inmate*", "detainee*", "riot*", "escape*", "breakout",
        "سجن*", "السجن", "سجناء", "معتقل*", "تمرد", "عصيان", "فرار", "هروب",
        "prison*", "détenu*", "mutinerie*", "évasion*",
        "gefängnis*", "häftling*", "meuterei*", "ausbruch*", "revolte*",
        "cezaevi*", "hapishane*", "isyan*", "firar*",
        "prisión*", "cárcel*", "motín*",
    ),
    "explosion": (
        "explosion*", "blast*", "bomb*", "ied*", "roadside", "explosive*", "suicide",
        "انفجار*", "عبوه*", "تفجير*", "ناسفه", "انتحاري*",
        "explosion*", "bombe*", "engin explosif", "kamikaze*",
        "explosion*", "sprengsatz*", "bombe*", "sprengstoff*", "selbstmord*",
        "patlama*", "bomba*", "el yapımı",
        "explosión*",
    ),
    "clash": (
        "ambush*", "clash*", "gunmen", "firefight*", "fighting", "insurgent*", "militants",
        "كمين", "اشتباك*", "مسلحين", "مسلحون", "معارك",
        "embuscade*", "affrontement*", "combat*", "hommes armés",
        "hinterhalt*", "gefecht*", "kämpf*", "bewaffnete",
        "pusu*", "çatışma*", "militan*",
        "emboscada*", "enfrentamiento*",
    ),
    "suspension": (
        "suspend*", "pause*", "halt*",
        "تعليق", "علق*", "ايقاف", "توقف*",
        "suspend*", "suspension*",
        "aussetz*", "ausgesetzt", "unterbrech*", "stopp*",
        "askıya*", "durdur*",
        "suspend*",
    ),
    "pandemic": (
        "coronavirus*", "covid*", "pandemic*", "virus*",
        "كورونا", "جائحه", "فيروس*", "وباء",
        "coronavirus*", "covid*", "pandémie*",
        "coronavirus*", "corona*", "pandemie*",
        "koronavirüs*", "salgın*",
        "pandemia*",
    ),
    "funeral": (
        "funeral*", "mourner*", "commemorat*", "anniversary", "memorial*", "burial",
        "تشييع", "جنازه", "ذكري", "احياء", "تابين", "مراسم",
        "funérailles", "obsèques", "commémor*", "anniversaire", "hommage*",
        "trauerfeier*", "beerdigung*", "begräbnis*", "gedenk*", "jahrestag*",
        "cenaze*", "anma*", "yıl dönümü",
        "funeral*", "aniversario*",
    ),
    "politics": (
        "parliament*", "lawmaker*", "vote*", "voted", "bill", "resolution", "cabinet", "prime minister",
        "البرلمان", "برلمان*", "مجلس النواب", "نواب", "تصويت", "قرار", "رئيس الوزراء", "الحكومه",
        "parlement*", "députés", "vote*", "résolution", "premier ministre",
        "parlament*", "abgeordnete*", "abstimmung*", "resolution", "regierungschef*", "ministerpräsident*",
        "meclis*", "milletvekil*", "oylama*", "başbakan*",
        "parlamento*", "diputados",
    ),
    "sanctions": (
        "sanction*", "blacklist*", "designat*", "terrorist list",
        "عقوبات", "عقوبه", "قائمه الارهاب", "تصنيف",
        "sanction*", "liste noire",
        "sanktion*", "terrorliste*",
        "yaptırım*", "terör listesi*",
        "sanciones",
    ),
    "training": (
        "train*", "exercise*", "drill*", "advis*",
        "تدريب*", "مناور*", "المستشارين",
        "formation*", "entraînement*", "exercice*",
        "ausbild*", "übung*", "manöver*",
        "eğitim*", "tatbikat*",
        "entrenamiento*", "formación*",
    ),
    "repeat": (
        "second attack*", "another attack*", "new attack*", "fresh attack*", "renewed", "again", "latest attack*",
        "second rocket attack*", "another rocket attack*", "new rocket attack*", "second strike*",
        "هجوم جديد", "هجوم ثان*", "مجددا", "من جديد", "للمره الثانيه", "هجوم اخر", "مره اخري",
        "nouvelle attaque", "nouveau tir*", "nouveaux tirs", "deuxième attaque", "à nouveau", "de nouveau", "encore visé*",
        "erneut*", "neuer angriff*", "neuen angriff*", "zweiter angriff*", "zweiten angriff*", "wieder", "abermals",
        "yeni saldırı*", "ikinci saldırı*", "yine", "yeniden",
        "nuevo ataque", "segundo ataque", "de nuevo",
    ),
}

PLACES: dict[str, tuple[str, ...]] = {
    "baghdad": ("Baghdad", "بغداد", "Bagdad"),
    "erbil": ("Erbil", "Irbil", "Arbil", "أربيل", "Hewler", "Hewlêr"),
    "kirkuk": ("Kirkuk", "كركوك", "Kerkuk"),
    "mosul": ("Mosul", "الموصل", "Mossoul", "Mossul", "Musul"),
    "basra": ("Basra", "Basrah", "البصرة", "Bassora", "Bassorah"),
    "anbar": ("Anbar", "الأنبار", "Al-Anbar"),
    "nineveh": ("Nineveh", "Ninewa", "Ninawa", "نينوى", "Ninive", "Ninova"),
    "salahuddin": ("Salahuddin", "Salah al-Din", "Salah ad-Din", "صلاح الدين"),
    "diyala": ("Diyala", "ديالى"),
    "karbala": ("Karbala", "كربلاء", "Kerbela", "Kerbala"),
    "najaf": ("Najaf", "النجف", "Nadschaf", "Necef"),
    "tikrit": ("Tikrit", "تكريت"),
    "fallujah": ("Fallujah", "Falluja", "الفلوجة", "Fallouja", "Falludscha", "Felluce"),
    "ramadi": ("Ramadi", "الرمادي"),
    "samarra": ("Samarra", "سامراء"),
    "sulaymaniyah": ("Sulaymaniyah", "Sulaimaniyah", "Slemani", "السليمانية", "Souleimaniye", "Süleymaniye"),
    "duhok": ("Duhok", "Dohuk", "Dahuk", "دهوك"),
    "sinjar": ("Sinjar", "سنجار", "Sindschar"),
    "haditha": ("Haditha", "حديثة"),
    "baiji": ("Baiji", "Beiji", "بيجي"),
    "makhmour": ("Makhmour", "Makhmur", "مخمور", "Mahmur"),
    "hasakah": ("Hasakah", "Hasaka", "al-Hasakah", "الحسكة", "Hassaké", "Hassakeh", "Haseke"),
    "deir-ez-zor": ("Deir ez-Zor", "Deir al-Zour", "Deir Ezzor", "دير الزور", "Deir ez-Zor", "Dayr az-Zawr", "Deyrizor"),
    "raqqa": ("Raqqa", "Raqqah", "الرقة", "Rakka"),
    "albu-kamal": ("Albu Kamal", "Abu Kamal", "Boukamal", "البوكمال", "Bukamal"),
    "qamishli": ("Qamishli", "القامشلي", "Kamischli", "Kamışlı"),
    "tehran": ("Tehran", "طهران", "Téhéran", "Teheran", "Tahran"),
    "beirut": ("Beirut", "بيروت", "Beyrouth", "Beyrut"),
    "damascus": ("Damascus", "دمشق", "Damas", "Damaskus"),
    "washington": ("Washington", "واشنطن", "Vaşington"),
    "london": ("London", "لندن", "Londres", "Londra"),
    "paris": ("Paris", "باريس"),
    "berlin": ("Berlin", "برلين"),
    "madrid": ("Madrid", "مدريد"),
    "ankara": ("Ankara", "أنقرة"),
    "kuwait": ("Kuwait", "الكويت", "Koweït", "Kuwait", "Kuveyt"),
    "green-zone": ("Green Zone", "المنطقة الخضراء", "zone verte", "Grüne Zone", "Yeşil Bölge"),
    "us-embassy": ("US embassy", "U.S. embassy", "American embassy", "السفارة الأمريكية", "السفارة الأميركية",
                   "ambassade américaine", "ambassade des États-Unis", "US-Botschaft", "amerikanische Botschaft",
                   "ABD Büyükelçiliği"),
    "baghdad-airport": ("Baghdad airport", "Baghdad International Airport", "مطار بغداد", "aéroport de Bagdad",
                        "Flughafen Bagdad", "Flughafen von Bagdad", "Bağdat Havalimanı"),
}
