//! The elements the parser acts on, told by their local name, and how a
//! tag's local name is found.

/// The elements we act on, by local name. Anything else is `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tag {
    Feedback,
    Version,
    ReportMetadata,
    OrgName,
    Email,
    ExtraContactInfo,
    ReportId,
    DateRange,
    Begin,
    End,
    Error,
    Generator,
    PolicyPublished,
    Domain,
    Adkim,
    Aspf,
    P,
    Sp,
    Np,
    Pct,
    Fo,
    Testing,
    DiscoveryMethod,
    Record,
    Row,
    SourceIp,
    Count,
    PolicyEvaluated,
    Disposition,
    Dkim,
    Spf,
    Reason,
    Type,
    Comment,
    Identifiers,
    HeaderFrom,
    EnvelopeFrom,
    EnvelopeTo,
    AuthResults,
    Selector,
    Result,
    HumanResult,
    Scope,
    Unknown,
}

impl Tag {
    /// The tag named `name`. Matched on the length first: with every name
    /// compared in turn, this took a tenth of the parsing time.
    pub(super) fn from_local(name: &[u8]) -> Tag {
        use Tag::*;
        let known: &[(&[u8], Tag)] = match name.len() {
            1 => &[(b"p", P)],
            2 => &[(b"sp", Sp), (b"np", Np), (b"fo", Fo)],
            3 => &[(b"row", Row), (b"spf", Spf), (b"end", End), (b"pct", Pct)],
            4 => &[(b"dkim", Dkim), (b"type", Type), (b"aspf", Aspf)],
            5 => &[
                (b"count", Count),
                (b"scope", Scope),
                (b"begin", Begin),
                (b"email", Email),
                (b"error", Error),
                (b"adkim", Adkim),
            ],
            6 => &[
                (b"domain", Domain),
                (b"result", Result),
                (b"record", Record),
                (b"reason", Reason),
            ],
            7 => &[
                (b"comment", Comment),
                (b"version", Version),
                (b"testing", Testing),
            ],
            8 => &[
                (b"selector", Selector),
                (b"feedback", Feedback),
                (b"org_name", OrgName),
            ],
            9 => &[
                (b"source_ip", SourceIp),
                (b"report_id", ReportId),
                (b"generator", Generator),
            ],
            10 => &[(b"date_range", DateRange)],
            11 => &[
                (b"disposition", Disposition),
                (b"identifiers", Identifiers),
                (b"header_from", HeaderFrom),
                (b"envelope_to", EnvelopeTo),
            ],
            12 => &[
                (b"auth_results", AuthResults),
                (b"human_result", HumanResult),
            ],
            13 => &[(b"envelope_from", EnvelopeFrom)],
            15 => &[(b"report_metadata", ReportMetadata)],
            16 => &[
                (b"policy_evaluated", PolicyEvaluated),
                (b"policy_published", PolicyPublished),
                (b"discovery_method", DiscoveryMethod),
            ],
            18 => &[(b"extra_contact_info", ExtraContactInfo)],
            _ => &[],
        };
        // Compared byte by byte: a call to `memcmp` for a few bytes cost
        // more than the comparison.
        known
            .iter()
            .find(|(n, _)| n.iter().zip(name).all(|(a, b)| a == b))
            .map_or(Unknown, |(_, tag)| *tag)
    }
}

/// The local name of a start tag: the name ends at the first XML
/// whitespace, its prefix at the first `:` (as quick-xml splits them).
pub(super) fn start_name(content: &[u8]) -> &[u8] {
    let mut colon = None;
    let mut end = content.len();
    for (i, c) in content.iter().enumerate() {
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                end = i;
                break;
            }
            b':' if colon.is_none() => colon = Some(i),
            _ => {}
        }
    }
    match colon {
        Some(i) => &content[i + 1..end],
        None => &content[..end],
    }
}

/// The local part of a qualified name (after the first `:`, as quick-xml
/// splits it).
pub(super) fn local_name(name: &[u8]) -> &[u8] {
    match name.iter().position(|c| *c == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}
