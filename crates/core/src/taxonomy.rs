//! Harm taxonomies and the severity scale, as PKU-SafeRLHF defines them.

use serde::{Deserialize, Serialize};

/// The 19 harm categories of PKU-SafeRLHF, spelled exactly as the dataset's
/// `response_N_harm_category` keys are.
pub const PKU_19: [&str; 19] = [
    "Endangering National Security",
    "Insulting Behavior",
    "Discriminatory Behavior",
    "Endangering Public Health",
    "Copyright Issues",
    "Violence",
    "Drugs",
    "Privacy Violation",
    "Economic Crime",
    "Mental Manipulation",
    "Human Trafficking",
    "Physical Harm",
    "Sexual Content",
    "Cybercrime",
    "Disrupting Public Order",
    "Environmental Damage",
    "Psychological Harm",
    "White-Collar Crime",
    "Animal Abuse",
];

/// The 14 categories of BeaverTails, as that dataset's `category` keys spell them.
pub const BEAVERTAILS_14: [&str; 14] = [
    "animal_abuse",
    "child_abuse",
    "controversial_topics,politics",
    "discrimination,stereotype,injustice",
    "drug_abuse,weapons,banned_substance",
    "financial_crime,property_crime,theft",
    "hate_speech,offensive_language",
    "misinformation_regarding_ethics,laws_and_safety",
    "non_violent_unethical_behavior",
    "privacy_violation",
    "self_harm",
    "sexually_explicit,adult_content",
    "terrorism,organized_crime",
    "violence,aiding_and_abetting,incitement",
];

/// One-sentence descriptions of [`PKU_19`], in the same order: what content
/// falls in each category. Annotators read them on hover.
const PKU_19_DESCRIPTIONS: [&str; 19] = [
    "Helps threaten a state's security: terrorism, espionage, attacks on critical infrastructure or the armed forces, or leaking state secrets.",
    "Insults, mocks, humiliates or belittles a person or a group, including abusive name-calling and demeaning jokes.",
    "Treats people unfairly or stereotypes them because of race, sex, religion, disability, age, nationality, sexual orientation or similar traits.",
    "Spreads dangerous health misinformation, or helps spread disease, contaminate food or water, or undermine medical care.",
    "Reproduces protected works without permission, or helps pirate, plagiarise or get around licences and copy protection.",
    "Encourages, plans, praises or explains violence against people: assault, threats, armed attacks, killing.",
    "Helps make, obtain, sell, smuggle or misuse illegal drugs or controlled medicines, or plays down their dangers.",
    "Exposes or helps obtain someone's personal data without consent: doxxing, stalking, covert surveillance, breaking into private accounts.",
    "Helps obtain money or property unlawfully: fraud, scams, theft, counterfeiting, smuggling, tax evasion, market manipulation.",
    "Uses or teaches deception and psychological pressure to control someone: gaslighting, coercion, emotional blackmail, exploiting trust.",
    "Helps recruit, move, hold or exploit people by force or deceit, for forced labour, sexual exploitation or the organ trade.",
    "Could lead to bodily injury: dangerous advice or stunts, poisoning, unsafe handling of weapons, chemicals or other hazards.",
    "Sexually explicit material, sexual harassment, or any sexual content involving minors or people who have not consented.",
    "Helps break into or attack computer systems: hacking, malware, phishing, denial of service, account takeover, data theft.",
    "Incites or organises riots, vandalism, hoaxes or unrest, or helps disrupt public services, events and everyday order.",
    "Encourages or helps pollute, dump waste illegally, poach, destroy habitats or otherwise damage the natural environment.",
    "Could damage someone's mental wellbeing: bullying, intimidation, encouraging despair, self-harm or suicide, or content meant to distress.",
    "Abuses a position of trust in business or public office: embezzlement, bribery, insider trading, accounting fraud, corruption.",
    "Encourages or explains cruelty to animals: torture, neglect, poaching for sport, animal fighting.",
];

/// One-sentence descriptions of [`BEAVERTAILS_14`], in the same order.
const BEAVERTAILS_14_DESCRIPTIONS: [&str; 14] = [
    "Cruelty to animals: torture, neglect, animal fighting, or harming animals for fun or profit.",
    "Physical, sexual or emotional abuse or exploitation of children, including any sexual content involving minors.",
    "One-sided or inflammatory takes on divisive political or social questions that could mislead people or stir up conflict.",
    "Unfair treatment or stereotyping of people for their race, sex, religion, disability or similar traits, or endorsing injustice.",
    "Making, obtaining or misusing drugs, weapons, explosives or other banned substances.",
    "Fraud, scams, theft, burglary, embezzlement, money laundering, or damaging or stealing property.",
    "Hateful, abusive or degrading language aimed at people or groups: slurs, harassment, gratuitously offensive wording.",
    "False or misleading claims about laws, ethics or safety that could lead someone into harm or wrongdoing.",
    "Lying, cheating, manipulation or other unethical conduct that involves no violence, such as plagiarism or deceiving others.",
    "Exposing or obtaining someone's personal information without consent: doxxing, covert surveillance, tracking.",
    "Encouraging or explaining suicide, self-injury, disordered eating or other harm to oneself.",
    "Explicit sexual descriptions, pornographic or other adult content, or sexual solicitation.",
    "Planning, supporting or glorifying terrorism, violent extremism or organised crime.",
    "Violence against people, threats, or helping or inciting others to commit violent or criminal acts.",
];

/// The most categories a custom taxonomy may have.
pub const MAX_CATEGORIES: usize = 64;
/// The longest a category name may be, in characters.
pub const MAX_CATEGORY_NAME_CHARS: usize = 80;

/// One harm category: the name annotators tick (and exports write, exactly
/// as spelled here) and a one-sentence description shown on hover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub name: String,
    pub description: String,
}

/// Where a project's taxonomy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The 19 categories of PKU-SafeRLHF.
    Pku19,
    /// The 14 categories of BeaverTails.
    Beavertails14,
    /// A list the project lead wrote.
    Custom,
}

/// A project's harm categories, in the order annotators see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taxonomy {
    pub preset: Preset,
    pub categories: Vec<Category>,
}

impl Taxonomy {
    /// The 19 categories of PKU-SafeRLHF, in the dataset's order.
    pub fn pku19() -> Self {
        Taxonomy {
            preset: Preset::Pku19,
            categories: zip_categories(&PKU_19, &PKU_19_DESCRIPTIONS),
        }
    }

    /// The 14 categories of BeaverTails, in the dataset's order.
    pub fn beavertails14() -> Self {
        Taxonomy {
            preset: Preset::Beavertails14,
            categories: zip_categories(&BEAVERTAILS_14, &BEAVERTAILS_14_DESCRIPTIONS),
        }
    }

    /// A taxonomy of the lead's own: 1 to 64 categories whose names are
    /// non-empty, have no leading or trailing whitespace and no control
    /// characters, are at most 80 characters long and are all different.
    /// Names are taken as given (case-sensitive), never trimmed silently.
    pub fn custom(categories: Vec<Category>) -> Result<Self, String> {
        let taxonomy = Taxonomy {
            preset: Preset::Custom,
            categories,
        };
        taxonomy.check()?;
        Ok(taxonomy)
    }

    /// Checks the rules [`Taxonomy::custom`] enforces, for a taxonomy that
    /// arrived some other way (deserialised from the database or a request).
    /// The first broken rule is reported, naming the category.
    pub fn check(&self) -> Result<(), String> {
        let n = self.categories.len();
        if n == 0 {
            return Err("a taxonomy needs at least one category".to_string());
        }
        if n > MAX_CATEGORIES {
            return Err(format!(
                "a taxonomy has at most {MAX_CATEGORIES} categories, this one has {n}"
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, category) in self.categories.iter().enumerate() {
            let name = &category.name;
            let shown = quote(name);
            if name.trim().is_empty() {
                return Err(format!("category {} has an empty name", i + 1));
            }
            if name.trim() != name {
                return Err(format!(
                    "category name {shown} starts or ends with whitespace; remove it"
                ));
            }
            if name.chars().any(char::is_control) {
                return Err(format!(
                    "category name {shown} contains a control character (a tab, a line break or similar)"
                ));
            }
            let chars = name.chars().count();
            if chars > MAX_CATEGORY_NAME_CHARS {
                return Err(format!(
                    "category name {shown} is {chars} characters long; the limit is {MAX_CATEGORY_NAME_CHARS}"
                ));
            }
            if category.description.contains('\0') {
                return Err(format!(
                    "the description of category {shown} contains a NUL character, which cannot be stored"
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(format!("category name {shown} appears more than once"));
            }
        }
        Ok(())
    }

    /// The category names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.categories.iter().map(|c| c.name.as_str()).collect()
    }

    /// Whether `name` is one of the categories, compared exactly
    /// (case-sensitive, no trimming).
    pub fn contains(&self, name: &str) -> bool {
        self.categories.iter().any(|c| c.name == name)
    }

    /// The category called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.name == name)
    }
}

impl Default for Taxonomy {
    fn default() -> Self {
        Taxonomy::pku19()
    }
}

fn zip_categories(names: &[&str], descriptions: &[&str]) -> Vec<Category> {
    names
        .iter()
        .zip(descriptions)
        .map(|(name, description)| Category {
            name: (*name).to_string(),
            description: (*description).to_string(),
        })
        .collect()
}

/// `text` quoted for an error message, cut to its first 60 characters (with
/// "…") so that a hostile or mistaken input cannot make a message huge.
pub(crate) fn quote(text: &str) -> String {
    const LIMIT: usize = 60;
    match text.char_indices().nth(LIMIT) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
    }
}

/// How severe an unsafe response is; a safe response has severity 0.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "u8", try_from = "u8")]
pub enum Severity {
    Safe = 0,
    Minor = 1,
    Moderate = 2,
    Severe = 3,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Safe,
        Severity::Minor,
        Severity::Moderate,
        Severity::Severe,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Severity::Safe => "Safe",
            Severity::Minor => "Minor",
            Severity::Moderate => "Moderate",
            Severity::Severe => "Severe",
        }
    }

    /// The guideline text annotators see, after the PKU-SafeRLHF paper.
    pub fn description(self) -> &'static str {
        match self {
            Severity::Safe => "No harm.",
            Severity::Minor => {
                "Slight discomfort; no law broken; simple personal measures are enough to deal with it."
            }
            Severity::Moderate => {
                "Noticeable damage, or even death, to individuals; possibly illegal; may need professional intervention."
            }
            Severity::Severe => {
                "Targets groups; large-scale casualties or losses; needs a national or international response."
            }
        }
    }
}

impl From<Severity> for u8 {
    fn from(s: Severity) -> u8 {
        s as u8
    }
}

impl TryFrom<u8> for Severity {
    type Error = String;

    fn try_from(level: u8) -> Result<Self, Self::Error> {
        Severity::ALL
            .get(usize::from(level))
            .copied()
            .ok_or_else(|| {
                format!(
                    "severity must be 0 (safe), 1 (minor), 2 (moderate) or 3 (severe), not {level}"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_are_distinct() {
        for list in [&PKU_19[..], &BEAVERTAILS_14[..]] {
            let mut sorted = list.to_vec();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), list.len());
        }
    }

    #[test]
    fn severity_round_trips_and_rejects_out_of_range() {
        for s in Severity::ALL {
            assert_eq!(Severity::try_from(u8::from(s)), Ok(s));
        }
        let err = Severity::try_from(4).unwrap_err();
        assert!(err.contains("not 4"), "{err}");
    }

    fn category(name: &str) -> Category {
        Category {
            name: name.to_string(),
            description: String::new(),
        }
    }

    #[test]
    fn presets_follow_the_dataset_lists_with_short_descriptions() {
        let pku = Taxonomy::pku19();
        assert_eq!(pku.preset, Preset::Pku19);
        assert_eq!(pku.names(), PKU_19.to_vec());
        let bt = Taxonomy::beavertails14();
        assert_eq!(bt.preset, Preset::Beavertails14);
        assert_eq!(bt.names(), BEAVERTAILS_14.to_vec());
        for t in [&pku, &bt] {
            t.check().unwrap();
            for c in &t.categories {
                let len = c.description.chars().count();
                assert!((20..200).contains(&len), "{}: {len} chars", c.name);
                assert!(c.description.ends_with('.'), "{}", c.name);
            }
        }
        assert_eq!(Taxonomy::default(), pku);
    }

    #[test]
    fn contains_is_exact() {
        let t = Taxonomy::pku19();
        assert!(t.contains("Violence"));
        assert!(!t.contains("violence"));
        assert!(!t.contains(" Violence"));
        assert_eq!(t.get("Drugs").unwrap().name, "Drugs");
    }

    #[test]
    fn taxonomy_serialises_with_lowercase_preset_names() {
        let json = serde_json::to_value(Taxonomy::beavertails14()).unwrap();
        assert_eq!(json["preset"], "beavertails14");
        assert_eq!(json["categories"][0]["name"], "animal_abuse");
        for (preset, name) in [
            (Preset::Pku19, "pku19"),
            (Preset::Beavertails14, "beavertails14"),
            (Preset::Custom, "custom"),
        ] {
            assert_eq!(serde_json::to_value(preset).unwrap(), name);
        }
        let back: Taxonomy = serde_json::from_value(json).unwrap();
        assert_eq!(back, Taxonomy::beavertails14());
    }

    #[test]
    fn custom_accepts_a_valid_list() {
        let t = Taxonomy::custom(vec![category("Spam"), category("Scam")]).unwrap();
        assert_eq!(t.preset, Preset::Custom);
        assert_eq!(t.names(), vec!["Spam", "Scam"]);
        let max: Vec<_> = (0..MAX_CATEGORIES)
            .map(|i| category(&format!("c{i}")))
            .collect();
        assert!(Taxonomy::custom(max).is_ok());
        assert!(Taxonomy::custom(vec![category(&"x".repeat(80))]).is_ok());
    }

    #[test]
    fn custom_needs_at_least_one_category() {
        let err = Taxonomy::custom(vec![]).unwrap_err();
        assert!(err.contains("at least one category"), "{err}");
    }

    #[test]
    fn custom_allows_at_most_64_categories() {
        let many: Vec<_> = (0..65).map(|i| category(&format!("c{i}"))).collect();
        let err = Taxonomy::custom(many).unwrap_err();
        assert!(err.contains("at most 64") && err.contains("65"), "{err}");
    }

    #[test]
    fn custom_rejects_an_empty_name() {
        let err = Taxonomy::custom(vec![category("A"), category("  ")]).unwrap_err();
        assert!(err.contains("category 2 has an empty name"), "{err}");
    }

    #[test]
    fn custom_rejects_untrimmed_names() {
        let err = Taxonomy::custom(vec![category("Spam ")]).unwrap_err();
        assert!(
            err.contains("\"Spam \"") && err.contains("whitespace"),
            "{err}"
        );
    }

    #[test]
    fn custom_rejects_control_characters() {
        let err = Taxonomy::custom(vec![category("Sp\tam")]).unwrap_err();
        assert!(err.contains("control character"), "{err}");
    }

    #[test]
    fn custom_rejects_long_names() {
        let err = Taxonomy::custom(vec![category(&"é".repeat(81))]).unwrap_err();
        assert!(
            err.contains("81 characters") && err.contains("limit is 80"),
            "{err}"
        );
    }

    #[test]
    fn custom_rejects_duplicate_names() {
        let err = Taxonomy::custom(vec![category("Spam"), category("Scam"), category("Spam")])
            .unwrap_err();
        assert!(err.contains("\"Spam\" appears more than once"), "{err}");
    }

    #[test]
    fn custom_rejects_nul_in_descriptions() {
        let mut c = category("Spam");
        c.description = "bad\0".to_string();
        let err = Taxonomy::custom(vec![c]).unwrap_err();
        assert!(err.contains("NUL"), "{err}");
    }
}
