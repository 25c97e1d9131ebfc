"""Source of tests/data/detection_passages.jsonl (run this file to regenerate it).

Every passage below is our own writing. Each one models the way a kind of real
reporting is written (wire copy, military press releases, regional outlets,
foreign-language press); `models` names the real reporting it imitates. No
sentence is copied from a source. The passages deliberately use spellings that
are NOT in the shared dev set, and the hard look-alikes the product must ignore.
"""

import json
from pathlib import Path

P = []


def add(pid, lang, text, entities, traps=(), models=""):
    P.append({"id": pid, "lang": lang, "text": text, "entities": sorted(entities), "traps": list(traps), "models": models})


add("o001", "en", "Two Katyusha rockets landed inside Camp Taji north of Baghdad late on Wednesday, Iraq's Security Media Cell said. "
    "No casualties were reported. A U.S. official blamed Kataib Hizbollah, one of the Iran-aligned factions within the Hashd al-Sha'bi, "
    "though the group did not claim the attack.",
    ["taji-base", "kataeb-hezbollah", "hashed-al-shaabi"], models="Reuters/AP wire reports on rocket attacks on Camp Taji, March 2020")
add("o002", "en", "Farmers in the Taji district north of Baghdad say irrigation canals have run dry this summer. "
    "Officials in the town of Taji blamed upstream dams in Turkey and asked the ministry for emergency pumps.",
    [], ["taji-town"], models="Iraqi regional outlets (Shafaq News, Rudaw) on water shortages")
add("o003", "en", "Hezbollah leader Hassan Nasrallah said in a televised speech from Beirut that the Lebanese group would respond to any Israeli "
    "strike on Lebanon. Hizbullah fighters have exchanged fire with Israeli troops along the border for weeks.",
    [], ["hezbollah-lebanon", "nasrallah-lebanon"], models="AFP/Al Jazeera reports on Lebanese Hezbollah speeches")
add("o004", "en", "KIRKUK, Iraq — Voters in Kirkuk province went to the polls on Monday for the first provincial election in a decade. "
    "The governor of Kirkuk urged calm, and police were deployed across the city of Kirkuk after tensions between Kurdish and Arab parties.",
    [], ["kirkuk-city", "kirkuk-province"], models="AP/Rudaw election coverage from Kirkuk, December 2023")
add("o005", "en", "A drone attack targeted the coalition base at Erbil International Airport overnight, the Kurdistan Region's counter-terrorism "
    "service said. US forces shot down the drone, and there was no damage, a coalition official added.",
    ["erbil-airbase"], models="Kurdistan 24 / Rudaw reports on drone attacks on Erbil airport, 2021-2023")
add("o006", "en", "ERBIL, Kurdistan Region — The Kurdistan Region's parliament met in Erbil on Sunday to debate the budget, while the citadel "
    "of Erbil reopened to tourists after restoration.",
    [], ["erbil-city-dateline", "erbil-city"], models="Kurdistan 24 politics coverage with Erbil dateline")
add("o007", "en", "Thousands marched in Tehran on Friday to mark Quds Day, an annual rally in support of the Palestinians. "
    "Speakers called for the liberation of al-Quds, as Iranian officials call Jerusalem.",
    [], ["quds-day", "quds-jerusalem"], models="Reuters/IRNA coverage of Quds Day rallies")
add("o008", "en", "Ghasem Soleimani, the commander of the Revolutionary Guards' elite Qods Force, was killed in a U.S. drone strike near "
    "Baghdad airport alongside Abu Mehdi al-Mohandes, deputy head of the Popular Mobilisation Forces.",
    ["qasem-soleimani", "quds-force", "abu-mahdi-al-muhandis", "hashed-al-shaabi"], models="Wire reports on the 3 January 2020 strike")
add("o009", "en", "Sulaymaniyah's governor opened a new road linking the city with Halabja. Traffic between Sulaimani and Erbil is expected to ease, "
    "the provincial council in Suleimani said.",
    [], ["sulaymaniyah-city", "sulaimani-city"], models="Rudaw / Kurdistan 24 local news from Sulaimani")
add("o010", "en", "Syrian President Bashar al-Assad received the Iraqi national security adviser in Damascus on Tuesday, "
    "where the two discussed border security. The Assad government has pressed Baghdad to reopen trade routes.",
    [], ["assad-syria"], models="SANA / AFP coverage of Iraq-Syria diplomacy")
add("o011", "en", "Japan's Ground Self-Defense Force will send SDF engineers to help with flood relief, Tokyo said. The SDF has "
    "deployed abroad for disaster relief several times since 1992.",
    [], ["sdf-japan"], models="Japan Times / Kyodo reports on SDF disaster relief")
add("o012", "en", "The Kurdish-led SDF said it captured an ISIS cell leader in a raid near al-Hasakah in northeast Syria, backed by "
    "helicopters of the U.S.-led coalition.",
    ["syrian-democratic-forces", "islamic-state"], models="SDF press centre / North Press Agency raid reports")
add("o013", "en", "The reopening of the Qaim border crossing, the main trade route between Iraq and Syria, was delayed again on Sunday, "
    "officials at the Al-Qa'im crossing said. Traders have waited for months.",
    [], ["qaim-crossing"], models="Iraqi News Agency / The National reports on the al-Qaim-Albukamal crossing")
add("o014", "en", "US troops completed their withdrawal from the Al-Qa'im base in western Anbar on Thursday, handing the facility to Iraqi forces, "
    "according to a statement from CJTF-OIR.",
    ["al-qaim-base", "operation-inherent-resolve"], models="CJTF-OIR press releases on base transfers, March 2020")
add("o015", "en", "What the new budget is about: the finance minister said the plan is balanced, and IS is not expected to change "
    "before the vote. IT IS A GOOD DAY, the minister's spokesman said.",
    [], ["is-verb"], models="General politics copy where 'is' / 'IS' is a verb")
add("o016", "en", "Iraqi forces killed six IS militants in an air strike in the Hamrin mountains, the Joint Operations Command said. "
    "Remnants of the group still carry out ambushes in Diyala and Kirkuk provinces.",
    ["islamic-state"], ["kirkuk-province"], models="Iraqi JOC statements as relayed by wire services")
add("o017", "en", "Coalition spokesman Col. Joe Scrocca said the strike hit a weapons depot. Separately, Saudi-led coalition spokesman "
    "Turki al-Maliki said Houthi drones were intercepted over Yemen.",
    ["coalition-spokesperson"], ["syrian-arab-coalition"], models="Mixed wire briefs; second item models Yemen war coverage")
add("o018", "en", "Oil production at the Qayyarah field resumed after engineers put out the last fires set by the militants, "
    "the oil ministry said. Residents of Qayyarah town said the smoke had finally cleared.",
    [], ["qayyarah-oilfield", "qayyarah-town"], models="Reuters / The National reports on Qayyarah oil wells after 2016")
add("o019", "en", "US aircraft returned to the Qayara airfield, which American engineers repaired in 2016 to support the offensive on Mosul. "
    "Troops at Q West now train Iraqi pilots.",
    ["qayyarah-airbase"], models="Military Times / Stars and Stripes on Q-West")
add("o020", "en", "Rocket fire struck Ayn al-Asad airbase in Anbar province on Monday, wounding two contractors, the Pentagon said. "
    "The base hosts American troops and the Iraqi air force.",
    ["ain-al-asad-airbase"], models="Pentagon statements on attacks on Ain al-Asad")
add("o021", "en", "The Islamic State of Iraq and the Levant claimed the bombing through its Amaq agency. ISIL has lost all its territory "
    "but keeps a presence in the desert.",
    ["islamic-state"], models="Wire copy using ISIL (UN/US government usage)")
add("o022", "en", "Kataib Sayyid al-Shuhada and Kataib al-Imam Ali, two Iraqi militias, said they would boycott the talks. "
    "Both groups deny links to the recent attacks.",
    [], ["kataib-sayyid-al-shuhada", "kataib-imam-ali"], models="The National / Al-Monitor militia coverage")
add("o023", "en", "A spokesman for the Hezbollah Brigades, Abu Ali al-Askari, warned US forces to leave Iraq. "
    "The Iraqi group, known as KH, is distinct from Lebanon's Hezbollah.",
    ["kataeb-hezbollah"], ["hezbollah-lebanon"], models="Al-Monitor / Long War Journal reports on Kataib Hezbollah statements")
add("o024", "en", "Spanish instructors at the Bismayah training range south-east of Baghdad completed a course for Iraqi army engineers, "
    "Spain's defence ministry said. About 300 Spanish troops remain at the camp.",
    ["besmaya-base"], models="Spanish MoD / Europa Press on the Besmaya mission")
add("o025", "en", "Families have begun moving into new apartments in Bismayah New City, the housing project south-east of Baghdad built by Hanwha. "
    "Residents complain that services lag behind.",
    [], ["besmaya-city"], models="Iraqi business press on the Bismayah housing project")
add("o026", "en", "Col. Wayne Marotto, the spokesman for Operation Inherent Resolve, said in a tweet that the attack caused no casualties.",
    ["coalition-spokesperson", "operation-inherent-resolve"], models="OIR spokesman tweets as relayed by wire services, 2021")
add("o027", "en", "Iraq's Joint Operations Command spokesman Maj. Gen. Tahsin al-Khafaji said security forces would take over the vacated sites.",
    [], ["generic-military-spokesman"], models="Iraqi News Agency quotes from the JOC spokesman")
add("o028", "en", "The US military handed K-One air base near Kirkuk to Iraqi forces in a ceremony on Sunday, the coalition said.",
    ["k1-airbase"], models="Wire reports on the K1 handover, March 2020")
add("o029", "en", "Lebanon's Hezbollah and its allies won a majority in parliament, while Iraq's Kata'ib Hizballah congratulated them in a statement.",
    ["kataeb-hezbollah"], ["hezbollah-lebanon"], models="Regional press on Lebanese elections with Iraqi militia reactions")
add("o030", "en", "The 'Sleepy Hollow' pop-up at Camp Nou and the Isis-themed exhibition at the British Museum drew large crowds this weekend. "
    "The exhibition traces the worship of Isis, the Egyptian goddess.",
    [], ["isis-goddess"], models="Culture pages about the Egyptian goddess Isis")
add("o031", "fr", "Des roquettes ont visé la base aérienne d'Aïn al-Assad, qui abrite des soldats américains, a indiqué la coalition "
    "internationale contre le groupe État islamique (EI). L'attaque n'a pas fait de victimes, selon le porte-parole de la coalition, le colonel Wayne Marotto.",
    ["ain-al-asad-airbase", "islamic-state", "coalition-spokesperson"], models="AFP French wire on attacks on Ain al-Asad, 2021")
add("o032", "fr", "Le Hachd al-Chaabi, coalition de paramilitaires dominée par des factions pro-iraniennes, a dénoncé la frappe. "
    "Les combattants de l'EI restent actifs dans le désert.",
    ["hashed-al-shaabi", "islamic-state"], models="AFP / Le Monde coverage of Iraqi paramilitaries")
add("o033", "de", "Die Bundeswehr bildet im Irak weiter Soldaten aus. Die Anti-IS-Koalition hat ihren Einsatz im Lager Tadschi beendet, "
    "teilte das Verteidigungsministerium mit. Die Terrormiliz IS ist militärisch besiegt, verübt aber weiter Anschläge.",
    ["taji-base", "islamic-state"], models="German MoD / Tagesschau reports on the Bundeswehr mission in Iraq")
add("o034", "de", "Der Kommandeur der Al-Kuds-Einheit der iranischen Revolutionsgarden, Ghassem Soleimani, wurde bei einem US-Angriff getötet. "
    "Auch der Vizechef der Volksmobilisierungskräfte, Abu Mahdi al-Muhandis, starb.",
    ["qasem-soleimani", "quds-force", "abu-mahdi-al-muhandis", "hashed-al-shaabi"], models="dpa / Spiegel reports, January 2020")
add("o035", "es", "Los militares españoles de la base Gran Capitán, en Besmayah, regresaron a España tras el ataque con cohetes. "
    "El Estado Islámico (EI) reivindicó otro atentado en Bagdad.",
    ["besmaya-base", "islamic-state"], models="Europa Press / El País on the Spanish contingent in Iraq")
add("o036", "es", "Las Fuerzas Democráticas Sirias (FDS), apoyadas por la coalición, anunciaron la captura de un líder del EI en Deir ez-Zor.",
    ["syrian-democratic-forces", "islamic-state"], models="EFE Spanish wire on SDF operations")
add("o037", "ar", "أعلنت خلية الإعلام الأمني سقوط صاروخين على قاعدة عين الاسد الجوية في محافظة الأنبار دون خسائر. "
    "وقال المتحدث باسم التحالف الدولي إن قوات التحالف لم تتعرض لأي إصابات.",
    ["ain-al-asad-airbase"], models="Iraqi Security Media Cell statements in Arabic press")
add("o038", "ar", "خرج آلاف المتظاهرين في بغداد، وقالت مصادر إن الحشد تجمع أمام السفارة، فيما دعت فصائل إلى التهدئة.",
    [], ["hashd-as-crowd"], models="Arabic press on Baghdad protests where الحشد means a crowd")
add("o039", "ar", "قالت هيئة الحشد الشعبي إن لواءً تابعاً لها أحبط هجوماً لعناصر داعش في صلاح الدين، وإن كتائب حزب الله لم تشارك في العملية.",
    ["hashed-al-shaabi", "islamic-state", "kataeb-hezbollah"], models="Arabic PMF media statements (Al Sumaria, Shafaq News Arabic)")
add("o040", "ar", "أعلنت قوات سوريا الديمقراطية (قسد) القبض على قيادي في تنظيم الدولة الإسلامية شرق دير الزور بدعم من التحالف الدولي.",
    ["syrian-democratic-forces", "islamic-state"], models="SDF / Hawar News Arabic statements")
add("o041", "en", "Soleimani's death, said analysts in Tehran, removed Iran's most capable strategist. Gen. Qassim Suleimani had run the Quds Force since 1998.",
    ["qasem-soleimani", "quds-force"], models="Analysis pieces (Guardian/Al-Monitor) on Soleimani's legacy")
add("o042", "en", "Al-Qaeda in Iraq, the forerunner of the Islamic State, fought US Marines in the town of Al Qaim in 2005. The town has since been rebuilt.",
    ["islamic-state"], ["qaim-town"], models="Historical retrospectives on the Anbar campaign")
add("o043", "en", "Brig. Gen. Vincent Barker said Qayyarah Airfield West had been a springboard for the Mosul battle; the Qayarah base is now run by the Iraqi air force.",
    ["qayyarah-airbase"], models="OIR press releases on base transfers")
add("o044", "en", "The Pentagon said a rocket hit near the Victory Base Complex at Baghdad airport. Kirkuk governor Rakan al-Jubouri said the city's airport would open to civilian flights.",
    [], ["kirkuk-city"], models="Mixed Iraq briefs (Baghdad airport attacks, Kirkuk airport news)")
add("o045", "en", "Daesh sleeper cells attacked a checkpoint in Tarmiyah, the Iraqi army said, as Popular Mobilization Units reinforced positions near Samarra.",
    ["islamic-state", "hashed-al-shaabi"], models="Iraqi News Agency English service")
add("o046", "it", "I miliziani dello Stato Islamico hanno attaccato un posto di blocco. Le Forze di Mobilitazione Popolare hanno risposto all'attacco dell'Isis.",
    ["islamic-state", "hashed-al-shaabi"], models="ANSA Italian wire on Iraq")
add("o047", "en", "CENTCOM said the strike targeted a Kata'ib Hezbollah weapons storage facility near Al Qaim on the Syrian border, "
    "not the US troops based elsewhere.",
    ["kataeb-hezbollah"], ["qaim-town"], models="CENTCOM press statements on strikes near al-Qaim, 2019-2021")
add("o048", "en", "The Ukrainian K-1 kickboxing champion won in Tokyo; fans filled the arena for the K1 World Grand Prix final.",
    [], ["k1-kickboxing"], models="Sports pages on K-1 kickboxing")

out = Path(__file__).with_name("detection_passages.jsonl")
out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in P), encoding="utf-8")
print(f"wrote {len(P)} passages to {out}")
