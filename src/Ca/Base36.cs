using System.Numerics;

namespace Shoal.Ca;

/// <summary>Unsigned big-endian bytes written in base 36 ([0-9a-z]), left-padded with zeros to a fixed width.</summary>
internal static class Base36
{
    private const string Alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

    public static string Encode(ReadOnlySpan<byte> bigEndian, int width)
    {
        var value = new BigInteger(bigEndian, isUnsigned: true, isBigEndian: true);
        var chars = new char[width];
        for (var i = width - 1; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value % 36)];
            value /= 36;
        }

        if (!value.IsZero)
        {
            throw new ArgumentException($"the value does not fit in {width} base-36 digits", nameof(bigEndian));
        }

        return new string(chars);
    }

    public static bool IsBase36(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c) && !char.IsAsciiLetterLower(c))
            {
                return false;
            }
        }

        return true;
    }
}
