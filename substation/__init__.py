"""A substation: an aiohttp service that books 60-second EV charging sessions up to its capacity."""
