using System.Buffers;

namespace Shoal.Api.Validation;

/// <summary>
/// The shape of an image reference, <c>[registry[:port]/]path[:tag][@algorithm:hex]</c>, checked the way
/// Docker's reference.ParseNormalizedNamed does, without resolving anything.
/// </summary>
internal static class ImageReference
{
    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

    // The longest reference worth running patterns on: name, tag, and a sha512 digest, with room to spare.
    private const int MaxLength = 1024;

    /// <summary>Why <paramref name="image"/> is not a valid reference, or null when it is.</summary>
    public static string? Check(string image)
    {
        if (image.Length > MaxLength)
        {
            return $"is {image.Length} characters long, more than any valid reference";
        }

        var rest = image.AsSpan();
        var at = rest.IndexOf('@');
        var digest = ReadOnlySpan<char>.Empty;
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            var digestProblem = CheckDigest(digest);
            if (digestProblem is not null)
            {
                return digestProblem;
            }
        }

        var lastColon = rest.LastIndexOf(':');
        if (lastColon > rest.LastIndexOf('/'))
        {
            if (!Patterns.ImageTag().IsMatch(rest[(lastColon + 1)..]))
            {
                return "has an invalid tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')";
            }

            rest = rest[..lastColon];
        }

        if (rest.IsEmpty)
        {
            return "has no repository name";
        }

        if (rest.Length > SpecLimits.MaxImageNameLength)
        {
            return $"has a repository name longer than {SpecLimits.MaxImageNameLength} characters";
        }

        if (!Patterns.ImageName().IsMatch(rest))
        {
            Span<char> lower = stackalloc char[rest.Length];
            rest.ToLowerInvariant(lower);
            return Patterns.ImageName().IsMatch(lower)
                ? "has uppercase letters in its repository name, which must be lowercase"
                : "is not a valid reference (expected [registry[:port]/]name[:tag][@digest], lowercase name, no spaces)";
        }

        if (Patterns.ImageId().IsMatch(image))
        {
            return "is a 64-character hexadecimal image ID, which cannot be used as a repository name";
        }

        return null;
    }

    private static string? CheckDigest(ReadOnlySpan<char> digest)
    {
        var colon = digest.IndexOf(':');
        if (colon <= 0 || colon == digest.Length - 1)
        {
            return "has a malformed digest (expected algorithm:hex, such as sha256:<64 hex digits>)";
        }

        var algorithm = digest[..colon];
        var encoded = digest[(colon + 1)..];
        if (!Patterns.DigestAlgorithm().IsMatch(algorithm))
        {
            return "has a malformed digest algorithm";
        }

        int expectedLength;
        if (algorithm.SequenceEqual("sha256"))
        {
            expectedLength = 64;
        }
        else if (algorithm.SequenceEqual("sha384"))
        {
            expectedLength = 96;
        }
        else if (algorithm.SequenceEqual("sha512"))
        {
            expectedLength = 128;
        }
        else
        {
            return "has a digest with an unsupported algorithm (sha256, sha384 or sha512)";
        }

        if (encoded.Length != expectedLength || encoded.ContainsAnyExcept(LowerHex))
        {
            return $"has a digest that is not {expectedLength} lowercase hexadecimal digits";
        }

        return null;
    }
}
