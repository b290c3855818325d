"""ECHONET Lite manufacturer codes (property 0x8A) of smart-meter and HEMS makers.

The ECHONET Consortium assigns the codes. Only companies that build or operate
Japanese smart meters, or make B-route/HEMS equipment, are listed. Every code appears
with the same company in at least two public copies of the Consortium's list:
scottyphillips/pychonet (``pychonet/lib/const.py``, up to 0x00012F), the manufacturer
table of a TypeScript ECHONET Lite Web API converter, and that of a Python ECHONET Lite
network scanner (the last two also hold 0x000139 and 0x000140).
"""

from __future__ import annotations

MAKER_CODES: dict[int, str] = {
    # Meter makers and meter-related companies.
    0x000001: "Hitachi",
    0x000005: "Sharp",
    0x000006: "Mitsubishi Electric",
    0x000009: "NEC",
    0x00000B: "Panasonic",
    0x000016: "Toshiba",
    0x00002E: "Shikoku Instrumentation",
    0x000035: "Toshiba Toko Meter Systems",
    0x000041: "Enegate",
    0x000048: "Oki Electric Industry",
    0x000052: "Osaki Electric",
    0x000064: "Omron Social Solutions",
    0x000085: "Takaoka Toko",
    0x00008C: "Kyuden Technosystems",
    0x0000C1: "Tsuken Electric Industrial",
    0x0000C2: "Tohoku Electric Meter Industry",
    0x0000C3: "Japan Electric Meters Inspection Corporation",
    0x0000CB: "Fuji Electric",
    0x0000D8: "Osaki Datatech",
    0x000140: "Landis+Gyr",
    # Electric power companies and their grid operators.
    0x000099: "Tokyo Electric Power Company Holdings",
    0x00009A: "Kansai Electric Power",
    0x0000A3: "Chubu Electric Power",
    0x0000AE: "Shikoku Electric Power",
    0x0000B5: "Chugoku Electric Power",
    0x0000B8: "Hokkaido Electric Power",
    0x0000BB: "Hokuriku Electric Power",
    0x0000BC: "Tohoku Electric Power",
    0x0000BF: "Kyushu Electric Power",
    0x0000FF: "TEPCO Energy Partner",
    # HEMS controllers, gateways and Wi-SUN equipment.
    0x00003B: "Kyocera",
    0x00003D: "Sumitomo Electric Industries",
    0x000063: "Kawamura Electric",
    0x00006C: "Nichicon",
    0x000073: "NEC Platforms",
    0x000087: "I-O DATA DEVICE",
    0x0000B7: "Nitto Kogyo",
    0x0000E2: "NextDrive",
    0x0000EE: "Tessera Technology",
    0x000106: "Nature",
    0x000139: "RATOC Systems",
}


def maker_name(code: int) -> str | None:
    """Company name for an ECHONET manufacturer code, None if not in the table."""
    return MAKER_CODES.get(code)
