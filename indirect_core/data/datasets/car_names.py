"""Manufacturer, model, body type and year from a Stanford Cars class name ("Make Model [Type] Year").

The authors read these from a Cars196.csv that is not published; we derive them from the 196 class names.
Manufacturer: the longest make in CAR_MAKES that prefixes the name (multi-word makes such as "Land Rover";
"Dodge Ram Pickup" is Dodge, "Ram C/V" is Ram). Body type: the last type word in the name ("Crew Cab",
"SuperCab" -> Cab; "Wagon Van" -> Van; "Cargo Van Minivan" -> Minivan); the 14 names without one (sport trims
such as "Chevrolet Corvette ZR1 2012") take their body style from BODY_TYPE_OVERRIDES.
"""

from __future__ import annotations

import re

CAR_MAKES: tuple[str, ...] = (
    "AM General", "Acura", "Aston Martin", "Audi", "BMW", "Bentley", "Bugatti", "Buick", "Cadillac",
    "Chevrolet", "Chrysler", "Daewoo", "Dodge", "Eagle", "FIAT", "Ferrari", "Fisker", "Ford", "GMC", "Geo",
    "HUMMER", "Honda", "Hyundai", "Infiniti", "Isuzu", "Jaguar", "Jeep", "Lamborghini", "Land Rover",
    "Lincoln", "MINI", "Maybach", "Mazda", "McLaren", "Mercedes-Benz", "Mitsubishi", "Nissan", "Plymouth",
    "Porsche", "Ram", "Rolls-Royce", "Scion", "Spyker", "Suzuki", "Tesla", "Toyota", "Volkswagen", "Volvo",
    "smart",
)
"""The 49 makes of Stanford Cars, spelled as in its class names."""

BODY_TYPES: tuple[str, ...] = ("Sedan", "SUV", "Coupe", "Convertible", "Hatchback", "Wagon", "Van", "Minivan",
                               "Cab")
"""Body types a class name can get ("Cab" covers Crew/Regular/Extended/Club/Quad Cab and SuperCab)."""

OTHER_BODY_TYPE = "Other"
"""Body type of a name with neither a type word nor an override (never the case for the 196 real names)."""

BODY_TYPE_OVERRIDES: dict[str, str] = {
    "Acura TL Type-S 2008": "Sedan",
    "Acura Integra Type R 2001": "Coupe",
    "Buick Regal GS 2012": "Sedan",
    "Chevrolet Corvette ZR1 2012": "Coupe",
    "Chevrolet Corvette Ron Fellows Edition Z06 2007": "Coupe",
    "Chevrolet HHR SS 2010": "Wagon",
    "Chevrolet Cobalt SS 2010": "Coupe",
    "Chevrolet TrailBlazer SS 2009": "SUV",
    "Chrysler 300 SRT-8 2010": "Sedan",
    "Dodge Challenger SRT8 2011": "Coupe",
    "Dodge Charger SRT-8 2009": "Sedan",
    "FIAT 500 Abarth 2012": "Hatchback",
    "Jaguar XK XKR 2012": "Coupe",
    "Lamborghini Gallardo LP 570-4 Superleggera 2012": "Coupe",
}
"""Body style of the class names that carry no type word (FIAT 500 Abarth = Hatchback as in the authors' CSV)."""

_CAB_QUALIFIERS = {"Crew", "Regular", "Extended", "Club", "Quad"}
_YEAR = re.compile(r"^(.*\S)\s+((?:19|20)\d\d)$")


def split_year(class_name: str) -> tuple[str, int | None]:
    """("Acura RL Sedan", 2012) from "Acura RL Sedan 2012"; (name, None) when it does not end in a year."""
    match = _YEAR.match(class_name.strip())
    return (match.group(1), int(match.group(2))) if match else (class_name.strip(), None)


def car_manufacturer(class_name: str) -> str:
    """The longest make of CAR_MAKES that starts the name (followed by a space); else the name's first word."""
    name = class_name.strip()
    matches = [m for m in CAR_MAKES if name == m or name.startswith(m + " ")]
    return max(matches, key=len) if matches else name.split(" ", 1)[0]


def _type_word(word: str) -> str | None:
    if word in BODY_TYPES:
        return word
    return "Cab" if word.endswith("Cab") else None


def car_body_type(class_name: str) -> str:
    """The last body-type word of the name, else BODY_TYPE_OVERRIDES, else OTHER_BODY_TYPE."""
    if class_name.strip() in BODY_TYPE_OVERRIDES:
        return BODY_TYPE_OVERRIDES[class_name.strip()]
    words = split_year(class_name)[0].split()
    for word in reversed(words[1:]):
        found = _type_word(word)
        if found:
            return found
    return OTHER_BODY_TYPE


def car_model(class_name: str) -> str:
    """The name without make, year and trailing type phrase: "500 Abarth", "fortwo", "Silverado 1500 Classic"."""
    base, _ = split_year(class_name)
    make = car_manufacturer(base)
    words = base[len(make):].split() if base.startswith(make) else base.split()[1:]
    if words and _type_word(words[-1]) and class_name.strip() not in BODY_TYPE_OVERRIDES:
        last = words.pop()
        if last == "Cab" and words and words[-1] in _CAB_QUALIFIERS:
            words.pop()
    return " ".join(words)


def describe_car(class_name: str) -> dict[str, object]:
    """All derived fields of one class name: manufacturer, model, body_type, year."""
    return {
        "manufacturer": car_manufacturer(class_name),
        "model": car_model(class_name),
        "body_type": car_body_type(class_name),
        "year": split_year(class_name)[1],
    }
