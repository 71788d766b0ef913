//! Aggregate reports of named senders for the tests' worlds
//! (`enrich_world.rs`, `pg_world.rs`): records with DKIM results, override
//! reasons, another header From, or a pass by SPF alone. Include with
//! `#[path]` beside them.
#![allow(dead_code)]

const DAY: i64 = 86_400;

pub struct Rec {
    pub ip: &'static str,
    pub count: i64,
    pub pass: bool,
    /// (domain, result) of <auth_results><dkim>.
    pub dkim: &'static [(&'static str, &'static str)],
    pub reason: Option<&'static str>,
    /// header_from, when not the policy domain.
    pub from: Option<&'static str>,
    /// Passing by SPF alone (policy_evaluated DKIM fails).
    pub spf_only: bool,
}

pub const fn rec(ip: &'static str, count: i64, pass: bool) -> Rec {
    Rec {
        ip,
        count,
        pass,
        dkim: &[],
        reason: None,
        from: None,
        spf_only: false,
    }
}

pub fn report(domain: &str, id: &str, begin: i64, p: &str, recs: &[Rec]) -> String {
    let mut s = format!(
        "<feedback><report_metadata><org_name>google.com</org_name><email>e@google.com</email>\
         <report_id>{id}</report_id><date_range><begin>{begin}</begin><end>{}</end></date_range>\
         </report_metadata><policy_published><domain>{domain}</domain><p>{p}</p><sp>{p}</sp>\
         <pct>100</pct></policy_published>",
        begin + DAY - 1
    );
    for r in recs {
        let v = if r.pass { "pass" } else { "fail" };
        let dv = if r.spf_only { "fail" } else { v };
        let reason = r
            .reason
            .map(|t| format!("<reason><type>{t}</type></reason>"))
            .unwrap_or_default();
        let dkim: String = r
            .dkim
            .iter()
            .map(|(d, res)| {
                format!(
                    "<dkim><domain>{d}</domain><selector>s</selector><result>{res}</result></dkim>"
                )
            })
            .collect();
        s.push_str(&format!(
            "<record><row><source_ip>{}</source_ip><count>{}</count><policy_evaluated>\
             <disposition>none</disposition><dkim>{dv}</dkim><spf>{v}</spf>{reason}</policy_evaluated></row>\
             <identifiers><header_from>{}</header_from></identifiers><auth_results>{dkim}\
             <spf><domain>{domain}</domain><result>{v}</result></spf></auth_results></record>",
            r.ip,
            r.count,
            r.from.unwrap_or(domain)
        ));
    }
    s + "</feedback>"
}
