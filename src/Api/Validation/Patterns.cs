using System.Text.RegularExpressions;

namespace Shoal.Api.Validation;

/// <summary>
/// The regular expressions of the validation rules, source-generated (no compilation at run time, AOT-friendly).
/// SwarmKit's patterns run on Go's linear-time engine; .NET's backtracks, so where SwarmKit's pattern nests
/// quantifiers the one here is rewritten to an equivalent that cannot backtrack catastrophically (tests check
/// the equivalence on random strings). Every pattern ends in \z: $ would also match before a trailing "\n".
/// </summary>
internal static partial class Patterns
{
    /// <summary>
    /// Service, network and node names. SwarmKit: <c>^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$</c> — an ASCII letter or
    /// digit, then letters, digits, '-' and '_', ending in a letter or digit.
    /// </summary>
    [GeneratedRegex(@"^[a-zA-Z0-9](?:[a-zA-Z0-9_-]*[a-zA-Z0-9])?\z", RegexOptions.CultureInvariant)]
    public static partial Regex DnsName();

    /// <summary>
    /// Secret and config names. SwarmKit: <c>^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$</c> — as DNS names, with '.' too.
    /// </summary>
    [GeneratedRegex(@"^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?\z", RegexOptions.CultureInvariant)]
    public static partial Regex SecretOrConfigName();

    /// <summary>Network and IPAM driver names (the plugin name as the Docker Engine accepts it).</summary>
    [GeneratedRegex(@"^[a-zA-Z0-9_.-]+\z", RegexOptions.CultureInvariant)]
    public static partial Regex DriverName();

    /// <summary>Placement constraint keys, SwarmKit's <c>^(?i)[a-z_][a-z0-9\-_.]+$</c>.</summary>
    [GeneratedRegex(@"^[a-zA-Z_][a-zA-Z0-9_.-]+\z", RegexOptions.CultureInvariant)]
    public static partial Regex ConstraintKey();

    /// <summary>
    /// Placement constraint values, SwarmKit's <c>^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$</c>, with Go's \s
    /// (ASCII space, \t, \n, \f, \r) spelled out because .NET's \s also matches Unicode spaces.
    /// </summary>
    [GeneratedRegex(@"^[a-zA-Z0-9:_ \t\n\f\r.*()?+\[\]\\^$|/-]+\z", RegexOptions.CultureInvariant)]
    public static partial Regex ConstraintValue();

    /// <summary>
    /// The name part of an image reference (distribution/reference): an optional registry domain (host names,
    /// a bracketed IPv6 address, optional port) and '/'-separated lowercase path components.
    /// </summary>
    [GeneratedRegex(
        @"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?/)?"
        + @"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\z",
        RegexOptions.CultureInvariant)]
    public static partial Regex ImageName();

    /// <summary>An image tag: up to 128 word characters, '.' and '-', not starting with '.' or '-'.</summary>
    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}\z", RegexOptions.CultureInvariant)]
    public static partial Regex ImageTag();

    /// <summary>A digest algorithm name (go-digest's grammar).</summary>
    [GeneratedRegex(@"^[a-zA-Z][a-zA-Z0-9]*(?:[-_+.][a-zA-Z][a-zA-Z0-9]*)*\z", RegexOptions.CultureInvariant)]
    public static partial Regex DigestAlgorithm();

    /// <summary>A bare 64-character hex string: an image ID, which Docker refuses as a repository name.</summary>
    [GeneratedRegex(@"^[a-f0-9]{64}\z", RegexOptions.CultureInvariant)]
    public static partial Regex ImageId();
}
