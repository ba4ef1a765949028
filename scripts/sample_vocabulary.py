"""Word lists and weights the sample-data generator draws from: TMDB and Discogs vocabulary.

Data only (plus the small `Language` record): the generator's case logic lives in
`scripts.generate_sample_data`, the XML/JSON fragment writing in `scripts.sample_xml`.
Each English word list holds distinct entries, because titles are built to be unique.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

# --- TMDB vocabulary ------------------------------------------------------------------------
TMDB_GENRES = {
    "Action": 28, "Adventure": 12, "Animation": 16, "Comedy": 35, "Crime": 80, "Documentary": 99,
    "Drama": 18, "Family": 10751, "Fantasy": 14, "History": 36, "Horror": 27, "Music": 10402,
    "Mystery": 9648, "Romance": 10749, "Science Fiction": 878, "TV Movie": 10770, "Thriller": 53,
    "War": 10752, "Western": 37,
}
# Drawn with these weights; Drama and Comedy dominate the real catalogue.
GENRE_WEIGHTS = (
    ("Drama", 30), ("Comedy", 20), ("Thriller", 12), ("Action", 11), ("Romance", 9), ("Horror", 8),
    ("Crime", 8), ("Adventure", 7), ("Documentary", 5), ("Science Fiction", 5), ("Family", 5),
    ("Fantasy", 4), ("Animation", 4), ("Mystery", 4), ("Music", 3), ("History", 3), ("War", 2),
    ("TV Movie", 2), ("Western", 1),
)


@dataclass(frozen=True)
class Language:
    iso: str
    english_name: str
    native_name: str
    countries: tuple[tuple[str, str], ...]
    discogs_country: str
    album_suffixes: tuple[str, ...]


LANGUAGES = (
    Language("en", "English", "English",
              (("US", "United States of America"), ("GB", "United Kingdom"), ("CA", "Canada"),
               ("AU", "Australia")), "US", ()),
    Language("fr", "French", "Français", (("FR", "France"), ("BE", "Belgium")), "France",
              (" (Bande Originale Du Film)", " (Musique Originale Du Film)", " - Bande Originale")),
    Language("es", "Spanish", "Español", (("ES", "Spain"), ("MX", "Mexico"), ("AR", "Argentina")),
              "Spain", (" (Banda Sonora Original)", " (Banda Original De Sonido)")),
    Language("de", "German", "Deutsch", (("DE", "Germany"), ("AT", "Austria")), "Germany",
              (" (Original Filmmusik)", " (Original Soundtrack)", " - Die Filmmusik")),
    Language("it", "Italian", "Italiano", (("IT", "Italy"),), "Italy",
              (" (Colonna Sonora Originale)", " (Original Soundtrack)")),
    Language("ja", "Japanese", "日本語", (("JP", "Japan"),), "Japan",
              (" オリジナル・サウンドトラック", " (Original Soundtrack)", " サウンドトラック")),
    Language("ko", "Korean", "한국어/조선말", (("KR", "South Korea"),), "South Korea",
              (" OST", " (Original Soundtrack)", " 오리지널 사운드트랙")),
)
LANGUAGE_WEIGHTS = (84, 5, 3, 3, 2, 2, 1)

# --- English title words (each list must hold distinct entries: titles are built to be unique) ---
ADJECTIVES = """Silent Broken Hidden Last Golden Crimson Hollow Wild Distant Burning Frozen Secret Lonely
Savage Gentle Endless Bitter Fading Restless Iron Velvet Paper Glass Electric Midnight Northern
Southern Western Little Final Perfect Dark Bright Quiet Lost Fallen Rising Sleeping Wandering
Forgotten Scarlet Silver Black White Blue Stolen Borrowed Strange Sweet Cruel Brave Hungry Empty
Narrow Long Deep Lucky Reckless Tender Violent Sacred Wicked Ancient Eternal Invisible Impossible
Beautiful Dangerous Ordinary Curious Faithful Fearless Hopeless Nameless Painted Shattered Twisted
Wounded Burnt Drowning Falling Howling Shining Winding Crooked Hunted Haunted Blind Proud Naked
Copper Marble Amber Ivory Emerald Cobalt Mercury Neon Pale Grey Summer Winter Autumn Spring""".split()
NOUNS = """River Harbor Kingdom Garden Mirror Shadow Empire Horizon Island Promise Stranger Witness
Frontier Circus Lighthouse Station Highway Orchard Canyon Desert Forest Ocean Thunder Storm Fire
Stone Crown Sword Arrow Engine Machine Signal Echo Memory Dream Heart Ghost Angel Saint Sinner
Hunter Dancer Soldier Doctor Teacher Driver Pilot Thief Liar Lover Widow Orphan Prince Bride
Sister Brother Daughter Father Mother Night Morning Evening Moon Star Planet Comet Rain Snow Wind
Tide Wave Bridge Tower Castle House Room Door Window Road Street City Town Village Valley
Mountain Lake Country Border Coast Shore Field Meadow Paradise Heaven Hell Letter Song
Ballad Anthem Secret Lie Truth Game Hand Eye Voice Blood Bone Skin Wolf Fox Raven Hawk Horse
Tiger Dragon Serpent Spider Butterfly Rose Lily Orchid Thorn Apple Cherry Clock Key Lock Chain
Ring Mask Carnival Parade Wedding Funeral Feast Harvest Voyage Journey Escape Return
Reckoning Silence Whisper Scream""".split()
PLACES = """Ash Glass Tomorrow Yesterday Fortune Shadows Thieves Kings Wolves Saints Sorrow Paris
Venice Tokyo Berlin Havana Cairo Lisbon Memphis Avalon Steel Dreams Heroes Strangers Angels
Ghosts Lions Giants Lovers Fools Dust Bones Roses Rain Stars Storms Secrets Mirrors Whispers
Monsters Spies Lanterns Tides Embers Feathers Marigolds Sparrows Orchids Comets Harbors
Rivers Mountains Islands Deserts Summers Winters Autumns Springs Mornings Evenings Nightfall
Daybreak Midsummer Midwinter Babylon Atlantis Eden Arcadia Zion Troy Sparta Thebes Marrakesh
Bombay Shanghai Moscow Vienna Prague Budapest Istanbul Athens Rome Naples Seville Madrid Dublin
Glasgow Boston Chicago Detroit Phoenix Denver Reno Tulsa Dallas""".split()
FIRST_NAMES = """John Mary Anna Léon Amélie Zoë Chloé José Björn Søren Ángel Iñigo Noémie François
Jürgen Ömer Łukasz Michael Sarah David Emma James Laura Robert Julia Thomas Clara Daniel Nora
Peter Eva Paul Lena Mark Rosa Henry Alice George Ines Frank Marta Oliver Vera Samuel Ada Victor
Ingrid Hugo Elena Felix Greta Oscar Mila Arthur Hana Ruben Lucia Elliot Sofia Max Irene Nils Maya
Anton Carmen Jonas Helga Marco Leila Pablo Yasmin Theo Agnes Ivan Olga Rafael Bianca Tomás Renée
Dmitri Siobhán Conor Aoife Kai Freya""".split()
LAST_NAMES = """Smith Carter Hale Moreau Dubois García Müller Novák Jóhannsson O'Connor Fitzgerald
Rossi Bianchi Schmidt Fischer Weber Wagner Becker Hoffmann Dupont Lefèvre Girard Martínez López
Sánchez Pérez Gómez Fernández Andersson Johansson Nilsson Larsen Hansen Jensen Kowalski Nowak
Wiśniewski Horváth Nagy Popescu Ionescu Petrov Ivanova Sokolov Kuznetsov Walsh Murphy Kelly
Byrne Ryan Doyle Brennan Quinn Reed Brooks Price Bennett Hayes Foster Graham Wallace Sullivan
Russell Griffin Barker Marsh Holt Stone Frost Winter Blackwood Ashford Whitaker Lindqvist
Sørensen Åberg Østergaard Çelik Yılmaz Demir Kaya Şahin Costa Ferreira Almeida Silva Santos
Oliveira Novotný Dvořák Král Lambert Fontaine Beaumont Castellano Delacroix Vasquez Navarro
Morales Ortega Delgado Romero Ramos""".split()
VERB_PHRASES = """Chasing Finding Saving Killing Leaving Loving Becoming Remembering Hunting
Burying Forgetting Waking Crossing Breaking Raising Stealing Catching Counting Following
Escaping""".split()
OVERVIEW_VERBS = "find save stop escape outwit protect expose survive rescue outrun forgive unmask".split()
SUBTITLES = (
    "A Love Story", "The Reckoning", "Origins", "Legacy", "The Beginning", "Redemption",
    "Revelations", "Dawn of Fire", "The Last Stand", "Homecoming", "A New Hope for Tomorrow",
    "Into the Dark", "The Awakening", "First Blood", "Resurrection", "The Final Chapter",
)
# Used at most once each: short, numeric and punctuated titles that stress title normalization.
SPECIAL_TITLES = (
    "Up", "Us", "It", "Her", "Elf", "Ran", "Ida", "9", "10", "Léon", "Amélie", "Zoë", "Chloé",
    "WALL·E", "ROVER·7", "M*A*S*K", "S.W.A.T.", "Mr. & Mrs. Lee", "What's Up, Doc?", "Ça Va!",
    "¡Ándale!", "Hello, Molly!", "E.T.A.", "Se7en Sins", "Æon", "Naïve", "Über", "Piñata", "1984½",
    "Who's Afraid?", "Ready <Set> Go", "Tom & Jerry & Me", "\"Quote\" Unquote", "Déjà Vu",
    "Crème Brûlée", "Señorita", "Fiancé", "Saló", "Noël",
)
SEQUEL_FORMS = ("{t} 2", "{t} II", "{t}: Part Two", "{t} 2: {s}")
THIRD_FORMS = ("{t} 3", "{t} III", "{t}: Part Three", "{t} 3: {s}")

# --- original-title words per language: (first slot, second slot, third slot for overflow, joiner)
NATIVE_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]] = {
    "fr": (("La Nuit", "Le Rêve", "L'Été", "Le Cœur", "La Mémoire", "Les Étoiles", "La Fête",
            "Le Silence", "L'Hiver", "La Route", "Le Château", "La Chambre", "Les Enfants",
            "Le Voyage", "La Vie", "L'Amour", "Le Secret", "La Fille", "Le Garçon", "Les Ombres"),
           ("de Marseille", "sans fin", "d'automne", "du silence", "des anges", "à Paris",
            "sans retour", "de la mer", "d'Amélie", "du soir", "de Lyon", "à l'aube",
            "des loups", "en été", "de Noël", "du désert", "sous la pluie", "de minuit"),
           ("et la mer", "et le vent", "et l'oubli", "et la ville", "et les autres", "et nous"), " "),
    "es": (("La Noche", "El Sueño", "El Verano", "El Corazón", "La Memoria", "Las Estrellas",
            "La Fiesta", "El Silencio", "El Invierno", "El Camino", "La Casa", "Los Niños",
            "El Viaje", "La Vida", "El Amor", "El Secreto", "La Niña", "Los Lobos"),
           ("de Sevilla", "sin fin", "de otoño", "del silencio", "de los ángeles", "en Madrid",
            "sin retorno", "del mar", "de la tarde", "de Buenos Aires", "al amanecer",
            "de Navidad", "del desierto", "bajo la lluvia", "de medianoche", "de mañana"),
           ("y el mar", "y el viento", "y el olvido", "y la ciudad", "y los otros", "y nosotros"), " "),
    "de": (("Die Nacht", "Der Traum", "Der Sommer", "Das Herz", "Die Erinnerung", "Die Sterne",
            "Das Fest", "Das Schweigen", "Der Winter", "Der Weg", "Das Haus", "Die Kinder",
            "Die Reise", "Das Leben", "Die Liebe", "Das Geheimnis", "Das Mädchen", "Die Wölfe"),
           ("von Berlin", "ohne Ende", "im Herbst", "der Stille", "der Engel", "in München",
            "ohne Wiederkehr", "am Meer", "am Abend", "von Köln", "im Morgengrauen",
            "zu Weihnachten", "der Wüste", "im Regen", "um Mitternacht", "über Hamburg"),
           ("und das Meer", "und der Wind", "und die Stadt", "und die anderen", "und wir", "und ich"), " "),
    "it": (("La Notte", "Il Sogno", "L'Estate", "Il Cuore", "La Memoria", "Le Stelle", "La Festa",
            "Il Silenzio", "L'Inverno", "La Strada", "La Casa", "I Bambini", "Il Viaggio",
            "La Vita", "L'Amore", "Il Segreto", "La Ragazza", "I Lupi"),
           ("di Roma", "senza fine", "d'autunno", "del silenzio", "degli angeli", "a Milano",
            "senza ritorno", "del mare", "della sera", "di Napoli", "all'alba", "di Natale",
            "del deserto", "sotto la pioggia", "di mezzanotte", "a Venezia"),
           ("e il mare", "e il vento", "e la città", "e gli altri", "e noi", "e io"), " "),
    "ja": (("夏の", "夜の", "風の", "海の", "星の", "雪の", "花の", "月の", "空の", "森の", "春の",
            "秋の", "冬の", "雨の", "街の", "光の"),
           ("約束", "記憶", "物語", "少女", "旅人", "王国", "手紙", "庭", "声", "光", "夢", "城",
            "歌", "果て", "扉", "向こう"),
           ("と僕", "と君", "の終わり", "の始まり", "をもう一度", "へ"), ""),
    "ko": (("여름의", "밤의", "바람의", "바다의", "별의", "눈의", "꽃의", "달의", "하늘의", "숲의",
            "봄의", "가을의", "겨울의", "비의", "도시의", "빛의"),
           ("약속", "기억", "이야기", "소녀", "나그네", "왕국", "편지", "정원", "목소리", "꿈",
            "성", "노래", "끝", "문", "저편", "시간"),
           ("그리고 나", "그리고 너", "너머", "다시", "속으로", "이후"), " "),
}
# Japanese and Korean composers: TMDB credits them romanized, Discogs keeps the native name as ANV.
CJK_COMPOSER_NAMES = {
    "ja": (
        (("Tanaka", "田中"), ("Suzuki", "鈴木"), ("Takahashi", "高橋"), ("Watanabe", "渡辺"),
         ("Ito", "伊藤"), ("Yamamoto", "山本"), ("Nakamura", "中村"), ("Kobayashi", "小林")),
        (("Hiroshi", "浩"), ("Takeshi", "武"), ("Yuki", "雪"), ("Kenji", "健二"), ("Akira", "明"),
         ("Haruki", "春樹"), ("Naoko", "直子"), ("Emi", "恵美")),
    ),
    "ko": (
        (("Kim", "김"), ("Lee", "이"), ("Park", "박"), ("Choi", "최"), ("Jung", "정"), ("Kang", "강"),
         ("Cho", "조"), ("Yoon", "윤")),
        (("Min-ho", "민호"), ("Ji-woo", "지우"), ("Seo-yeon", "서연"), ("Hyun-woo", "현우"),
         ("Ji-hoon", "지훈"), ("Soo-jin", "수진"), ("Dong-hyun", "동현"), ("Eun-ji", "은지")),
    ),
}

# --- Discogs vocabulary ---------------------------------------------------------------------
SOUNDTRACK_LABELS = (
    (65412, "Varèse Sarabande", "VSD-"), (20934, "Milan", "CD MIL "), (39711, "Lakeshore Records", "LKS "),
    (2701, "Sony Classical", "SK "), (1502, "Decca", "478 "), (14823, "Silva Screen Records", "SILCD"),
    (88213, "Intrada", "MAF "), (124503, "La-La Land Records", "LLLCD "), (31177, "Quartet Records", "QR"),
    (402117, "Mondo", "MOND-"), (780220, "Waxwork Records", "WW0"), (221871, "Music On Vinyl", "MOVATM"),
    (9104, "Walt Disney Records", "D"), (64003, "Hollywood Records", "HR-"), (5320, "Atlantic", "7567-"),
    (11340, "Interscope Records", "INTR-"), (45871, "Beat Records Company", "BCM"),
    (70615, "Cam", "CAM "), (318223, "Rambling Records", "RBCP-"), (93017, "Universal Music", "06007 "),
)
MUSIC_LABELS = (
    (1000, "Warner Bros. Records", "9 "), (1866, "Columbia", "CK "), (5, "Svek", "SK"),
    (23528, "Matador", "OLE "), (1818, "Sub Pop", "SP"), (25386, "Warp Records", "WARP"),
    (17, "Blue Note", "BST-"), (6, "Ruffhouse Records", "RH "), (157, "Island Records", "ILPS "),
    (895, "RCA", "PL "), (42, "Ninja Tune", "ZEN"), (3290, "Domino", "WIGCD"),
)
DISCOGS_COUNTRIES = ("US", "UK", "Europe", "Germany", "France", "Japan", "Italy", "Netherlands",
                     "Canada", "Australia", "Spain", "UK & Europe", "USA & Canada")
COUNTRY_WEIGHTS = (30, 14, 14, 8, 6, 7, 4, 3, 3, 2, 3, 4, 2)
MUSIC_GENRES = {
    "Electronic": ("Techno", "House", "Ambient", "Synth-pop", "IDM", "Downtempo", "Drum n Bass"),
    "Rock": ("Indie Rock", "Alternative Rock", "Punk", "Hard Rock", "Pop Rock", "Shoegaze"),
    "Pop": ("Synth-pop", "Ballad", "Vocal", "Europop", "Indie Pop"),
    "Jazz": ("Hard Bop", "Cool Jazz", "Fusion", "Swing", "Soul-Jazz"),
    "Hip Hop": ("Boom Bap", "Conscious", "Trap", "Instrumental"),
    "Funk / Soul": ("Soul", "Funk", "Disco", "Rhythm & Blues"),
    "Classical": ("Modern", "Baroque", "Romantic", "Contemporary"),
    "Folk, World, & Country": ("Folk", "Country", "Bluegrass"),
    "Latin": ("Salsa", "Bossa Nova", "Cumbia"),
    "Reggae": ("Roots Reggae", "Dub", "Dancehall"),
}
MUSIC_GENRE_NAMES = tuple(MUSIC_GENRES)
# A soundtrack sometimes carries a second genre besides Stage & Screen, as on Discogs.
SOUNDTRACK_SIDE_GENRES = (
    ("Classical", ("Modern Classical", "Contemporary")), ("Electronic", ("Ambient", "Experimental")),
    ("Rock", ("Pop Rock", "Alternative Rock")), ("Pop", ("Vocal", "Ballad")), ("Jazz", ("Big Band",)),
    ("Hip Hop", ("Instrumental",)),
)
SCORE_TRACKS = ("Main Title", "Prologue", "Opening", "End Credits", "Finale", "Epilogue", "Suite",
                "Overture", "Main Theme", "Love Theme")

# Suffix forms Discogs uses for film albums, weighted as they appear; "{c}" is the composer.
SCORE_TITLE_FORMS = (
    ("{t} (Original Motion Picture Soundtrack)", 25), ("{t} (Music From The Motion Picture)", 10),
    ("{t} (Original Score)", 10), ("{t} (Original Motion Picture Score)", 8),
    ("{t} (Original Soundtrack)", 8), ("{t} OST", 4), ("{t} (O.S.T.)", 3),
    ("{t} (Original Soundtrack Recording)", 5), ("{t}", 8), ("{c} - {t}", 4),
    ("{t}: Original Soundtrack", 3), ("{t} - Original Motion Picture Soundtrack", 3),
)
SONGS_TITLE_FORMS = (
    ("{t} (Music From And Inspired By The Motion Picture)", 5),
    ("{t} (Original Motion Picture Soundtrack)", 4), ("{t} (Music From The Motion Picture)", 3),
    ("Songs From {t}", 1),
)
EDITION_FORMS = ("{t} (Deluxe Edition)", "{t} ({n}th Anniversary Edition)", "{t} (Expanded Edition)",
                 "{t} (Remastered)")
TV_FORMS = ("{t} (Music From The Television Series)", "{t} (Original Television Soundtrack)",
            "{t}: Season 1 (Original Series Soundtrack)", "{t} (Music From The TV Series)")
GAME_FORMS = ("{t} (Original Game Soundtrack)", "{t}: The Video Game (Original Soundtrack)",
              "{t} (Video Game Soundtrack)")
STAGE_FORMS = ("{t} (Original Broadway Cast Recording)", "{t} (Original London Cast Recording)",
               "{t} - The Musical (Original Cast Recording)")
THEME_FORMS = ("Greatest Movie Themes Vol. {n}", "The Best Of Hollywood Vol. {n}", "Cinema Classics {n}",
               "Movie Themes Of The {d}s", "Big Screen Themes Volume {n}")

# Which cases the first clusters walk through before cases are drawn at random.
SHOWCASE = (
    ("standalone", "same_title"), ("franchise", None), ("standalone", "sequel_lookalike"),
    ("remake", None), ("standalone", "remake_lookalike"), ("double", None), ("standalone", "tv"),
    ("standalone", "game"), ("standalone", "stage"), ("standalone", "theme"),
    ("standalone", "masterless"), ("standalone", "songs"), ("double", None),
    ("standalone", "composer_solo"),
)
# Look-alike albums a standalone film gets, as cumulative probabilities.
LOOKALIKE_ODDS = (("same_title", 0.06), ("sequel_lookalike", 0.09), ("remake_lookalike", 0.12), ("tv", 0.14),
                  ("game", 0.155), ("stage", 0.17), ("theme", 0.18), ("composer_solo", 0.19))
LOOKALIKE_KINDS = tuple(kind for kind, _ in LOOKALIKE_ODDS)
MAIN_COMPOSERS = len(FIRST_NAMES) * len(LAST_NAMES)
CREW_JOBS = (("Directing", "Director"), ("Writing", "Screenplay"), ("Production", "Producer"),
             ("Editing", "Editor"), ("Sound", "Music Supervisor"))
CHARACTER_JSON = tuple(json.dumps(name, ensure_ascii=False) for name in FIRST_NAMES)
