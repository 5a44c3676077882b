"""Word lists and a unique-title maker for the generated library (names only, no ids)."""

from __future__ import annotations

import random


def _words(text: str) -> tuple[str, ...]:
    """Comma-separated words (a word may contain spaces) as a tuple."""
    return tuple(word.strip() for word in text.split(",") if word.strip())


ADJECTIVES = _words(
    """
    Silent, Broken, Golden, Hidden, Last, Lost, Crimson, Iron, Wild, Secret, Dark, Bright,
    Frozen, Burning, Hollow, Distant, Quiet, Restless, Savage, Gentle, Electric, Final, First,
    Northern, Southern, Eastern, Western, Ancient, Modern, Little, Great, Lonely, Endless,
    Fallen, Rising, Shattered, Twisted, Velvet, Silver, Scarlet, Emerald, Midnight, Morning,
    Summer, Winter, Autumn, Spring, Paper, Glass, Stone, Copper, Neon, Crystal, Perfect, Strange,
    Curious, Brave, Reckless, Wandering, Sleeping, Dancing, Running, Falling, Drowning,
    Invisible, Forgotten, Forbidden, Sacred, Cursed, Lucky, Wicked, Honest, Tender, Bitter,
    Sweet, Cold, Hot, Blue, Red, Black, White, Green, Grey, Long, Short, High, Deep, Open,
    Closed, Empty, Full, Young, Old, New, Royal, Common, Private, Public, Foreign, Native,
    Double
    """
)
NOUNS = _words(
    """
    River, Harbor, Empire, Garden, Kingdom, Road, Bridge, Tower, Island, Forest, Mountain,
    Valley, Desert, Ocean, Storm, Fire, Shadow, Light, Night, Day, Dream, Promise, Secret,
    Signal, Circle, Mirror, Window, Door, Key, Crown, Sword, Shield, Heart, Hand, Eye, Voice,
    Song, Story, Letter, Map, Compass, Anchor, Lantern, Engine, Machine, Station, Frontier,
    Border, Horizon, Planet, Star, Moon, Sun, Comet, Orbit, Galaxy, City, Town, Village, House,
    Castle, Palace, Prison, School, Hospital, Hotel, Diner, Office, Factory, Farm, Ranch,
    Harvest, Winter, Summer, Season, Hour, Minute, Moment, Memory, Legacy, Fortune, Gambit, Game,
    Hunt, Chase, Race, Trial, Verdict, Witness, Detective, Doctor, Captain, Pilot, Sailor,
    Soldier, Thief, Queen, King, Prince, Widow, Stranger, Neighbor, Family, Brother, Sister,
    Daughter, Son, Father, Mother, Child, Giant, Ghost, Wolf, Fox, Raven, Falcon, Tiger, Lion,
    Bear, Horse, Serpent, Dragon, Angel, Saint, Prophet, Hunter, Rider, Drifter, Outlaw, Sheriff,
    Messenger, Keeper
    """
)
PLACES = _words(
    """
    Avalon, Brooklyn, Cairo, Dakota, Eden, Fairhaven, Glasgow, Havana, Istanbul, Jericho,
    Kingston, Lisbon, Memphis, Nevada, Oakland, Paris, Quebec, Riverside, Savannah, Tokyo,
    Utopia, Vienna, Westport, Yukon, Zanzibar, Alaska, Berlin, Chicago, Denver, Everwood,
    Florence, Granada, Hollow Creek, Ironwood, Juniper, Kyoto, London, Madrid, Naples, Oslo,
    Prague, Rome, Sydney, Texas, Toronto, Valencia, Warsaw, York, Atlantis, Babylon, Camelot,
    Sparta, Troy, Mars, Pacific, Atlantic, Arctic, Sahara, Amazon, Baltimore
    """
)
FIRST_NAMES = _words(
    """
    Alice, Ben, Clara, David, Elena, Felix, Grace, Henry, Iris, Jack, Kate, Leo, Maya, Noah,
    Olivia, Paul, Quinn, Rosa, Sam, Tara, Umar, Vera, Will, Xena, Yusuf, Zoe, Anna, Boris, Chloe,
    Dmitri, Emma, Frank, Gina, Hugo, Ivy, Jonas, Kira, Lucas, Mila, Nina, Oscar, Pia, Ravi,
    Sofia, Theo, Uma, Victor, Wanda, Yara, Zack, Marcus, Hannah, Elliot, Lena
    """
)
EPISODE_WORDS = _words(
    """
    Pilot, Homecoming, The Return, Reckoning, Crossroads, Fallout, Departure, Arrival,
    Revelations, Aftermath, Ghosts, Echoes, Lines, Ties, Truths, Lies, Bargain, Sacrifice,
    Exodus, Genesis, Blackout, Lockdown, Breakout, Showdown, Checkmate, Paradise, Limbo, Vertigo,
    Undertow, Wildfire, Landfall
    """
)
EDITIONS = ("Extended", "Director's Cut", "Remastered", "Theatrical", "Unrated")
RELEASE_GROUPS = ("NTb", "FLUX", "SPARKS", "AMIABLE", "EDITH", "CAKES", "playWEB", "KOGi")
ROMAN = ("II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
LEADING_ARTICLES = ("the ", "a ", "an ")


def sort_title(title: str) -> str:
    """Lower-cased title without a leading article, as Sonarr/Radarr sort it."""
    lowered = title.lower()
    for article in LEADING_ARTICLES:
        if lowered.startswith(article):
            return lowered[len(article) :]
    return lowered


class TitleMaker:
    """Draws realistic titles that are unique across everything one library names."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _candidate(self) -> str:
        rng = self.rng
        pattern = rng.randrange(6)
        if pattern == 0:
            return f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        if pattern == 1:
            return f"{rng.choice(NOUNS)} of {rng.choice(PLACES)}"
        if pattern == 2:
            return f"{rng.choice(FIRST_NAMES)}'s {rng.choice(NOUNS)}"
        if pattern == 3:
            return f"The {rng.choice(NOUNS)} of the {rng.choice(NOUNS)}"
        if pattern == 4:
            return f"{rng.choice(PLACES)} {rng.choice(NOUNS)}"
        return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"

    def title(self) -> str:
        """A title not handed out before by this maker."""
        for _ in range(20):
            candidate = self._candidate()
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        base = self._candidate()
        # Sequels keep titles unique once the word space gets crowded.
        for suffix in ROMAN:
            candidate = f"{base} {suffix}"
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        candidate = f"{base} {len(self.used)}"
        self.used.add(candidate)
        return candidate

    def episode_title(self, season: int, number: int) -> str:
        """An episode title; need not be unique."""
        if season == 1 and number == 1:
            return "Pilot"
        rng = self.rng
        if rng.random() < 0.5:
            return rng.choice(EPISODE_WORDS)
        return f"The {rng.choice(NOUNS)}"
