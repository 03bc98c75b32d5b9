using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace Shoal.Ca;

/// <summary>
/// A join token, <c>SWMTKN-1-&lt;digest&gt;-&lt;secret&gt;</c>: the digest (SHA-256 of the root CA certificate, 50
/// base-36 digits) pins the CA a joining node may trust; the secret (128 random bits, 25 base-36 digits) admits it and
/// decides its role. <see cref="ToString"/> never shows the secret: the value is in <see cref="Value"/>.
/// </summary>
public sealed class JoinToken : IEquatable<JoinToken>
{
    /// <summary>The fixed start of every token of this format.</summary>
    public const string Prefix = "SWMTKN-1-";

    /// <summary>Base-36 digits of the CA digest.</summary>
    public const int DigestLength = 50;

    /// <summary>Base-36 digits of the secret.</summary>
    public const int SecretLength = 25;

    /// <summary>Length of a whole token.</summary>
    public const int Length = 9 + DigestLength + 1 + SecretLength;

    private const string Shape = "SWMTKN-1-<50 base-36 characters>-<25 base-36 characters>";

    private JoinToken(string value) => Value = value;

    /// <summary>The whole token. It admits nodes to the swarm: never log it.</summary>
    public string Value { get; }

    /// <summary>The CA digest part.</summary>
    public string CaDigest => Value.Substring(Prefix.Length, DigestLength);

    /// <summary>A new token for the root CA certificate <paramref name="rootCaDer"/> with a fresh random secret.</summary>
    public static JoinToken Generate(ReadOnlySpan<byte> rootCaDer)
    {
        Span<byte> secret = stackalloc byte[16];
        RandomNumberGenerator.Fill(secret);
        return new JoinToken(Prefix + DigestOf(rootCaDer) + "-" + Base36.Encode(secret, SecretLength));
    }

    /// <summary>The digest a token carries for the root CA certificate <paramref name="rootCaDer"/> (DER).</summary>
    public static string DigestOf(ReadOnlySpan<byte> rootCaDer) => Base36.Encode(SHA256.HashData(rootCaDer), DigestLength);

    /// <summary>Parses a token; the error says what is wrong with its shape without repeating the token.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out JoinToken? token, [NotNullWhen(false)] out string? error)
    {
        token = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = $"the join token is empty; expected {Shape}";
            return false;
        }

        text = text.Trim();
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            error = text.StartsWith("SWMTKN-", StringComparison.Ordinal)
                ? $"the join token has an unsupported version; expected {Shape}"
                : $"this is not a join token; expected {Shape}";
            return false;
        }

        if (text.Length != Length || text[Prefix.Length + DigestLength] != '-')
        {
            error = $"the join token is malformed (it has {text.Length} characters, a token has {Length}); expected {Shape}";
            return false;
        }

        if (!Base36.IsBase36(text.AsSpan(Prefix.Length, DigestLength)) || !Base36.IsBase36(text.AsSpan(Length - SecretLength)))
        {
            error = $"the join token is malformed (characters outside [0-9a-z]); expected {Shape}";
            return false;
        }

        token = new JoinToken(text);
        error = null;
        return true;
    }

    /// <summary>Parses a token or throws <see cref="FormatException"/> with what is wrong.</summary>
    public static JoinToken Parse(string? text) =>
        TryParse(text, out var token, out var error) ? token : throw new FormatException(error);

    /// <summary>Whether this token was made for the root CA certificate <paramref name="rootCaDer"/>.</summary>
    public bool IsForCa(ReadOnlySpan<byte> rootCaDer) => FixedTimeEquals(CaDigest, DigestOf(rootCaDer));

    /// <summary>Whether the presented text is exactly this token, compared in constant time.</summary>
    public bool Matches(string? presented) => presented is not null && FixedTimeEquals(Value, presented);

    /// <inheritdoc/>
    public bool Equals(JoinToken? other) => other is not null && FixedTimeEquals(Value, other.Value);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as JoinToken);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(CaDigest);

    /// <summary>The token with its secret masked, safe for logs and messages.</summary>
    public override string ToString() => Prefix + CaDigest + "-" + new string('*', SecretLength);

    private static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));
}
