using System.Security.Cryptography;

namespace Shoal.Api.Naming;

/// <summary>Object identifiers: 128 random bits written in base 36, padded to 25 characters ([0-9a-z]).</summary>
public static class Identity
{
    /// <summary>Length of every generated identifier.</summary>
    public const int Length = 25;

    private const string Alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

    /// <summary>A new random identifier.</summary>
    public static string NewId()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        var hi = BitConverter.ToUInt64(bytes[..8]);
        var lo = BitConverter.ToUInt64(bytes[8..]);
        var value = ((UInt128)hi << 64) | lo;
        Span<char> chars = stackalloc char[Length];
        for (var i = Length - 1; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value % 36)];
            value /= 36;
        }

        return new string(chars);
    }

    /// <summary>Whether <paramref name="id"/> has the shape of a generated identifier.</summary>
    public static bool IsValid(string? id)
    {
        if (id is null || id.Length != Length)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!char.IsAsciiDigit(c) && !char.IsAsciiLetterLower(c))
            {
                return false;
            }
        }

        return true;
    }
}
