//! Who is acting: an authenticated professional, or the system itself (jobs, demo seeding).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Professional(ProfessionalActor),
    System(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfessionalActor {
    pub id: String,
    pub display_name: String,
    /// TRE_G15 profession code.
    pub profession: String,
}

impl Actor {
    pub fn id(&self) -> Option<&str> {
        match self {
            Actor::Professional(p) => Some(&p.id),
            Actor::System(_) => None,
        }
    }
    pub fn label(&self) -> String {
        match self {
            Actor::Professional(p) => p.display_name.clone(),
            Actor::System(s) => format!("system:{s}"),
        }
    }
    pub fn professional(&self) -> Option<&ProfessionalActor> {
        match self {
            Actor::Professional(p) => Some(p),
            Actor::System(_) => None,
        }
    }
}
