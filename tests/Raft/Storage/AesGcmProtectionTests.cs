using System.Security.Cryptography;
using Shoal.Raft.Storage;

namespace Shoal.Raft.Tests.Storage;

public class AesGcmProtectionTests
{
    [Fact]
    public void Protect_ThenUnprotect_GivesThePlainBytesBack()
    {
        using var protection = new AesGcmProtection(RandomNumberGenerator.GetBytes(32));
        var plain = "a raft entry"u8.ToArray();
        var sealedData = new byte[plain.Length + protection.Overhead];

        protection.Protect(plain, sealedData);
        var output = new byte[plain.Length];

        Assert.True(protection.TryUnprotect(sealedData, output, out var written));
        Assert.Equal(plain, output.AsSpan(0, written).ToArray());
        Assert.Equal(28, protection.Overhead);
    }

    [Fact]
    public void EachSeal_UsesAFreshNonce()
    {
        using var protection = new AesGcmProtection(RandomNumberGenerator.GetBytes(32));
        var plain = new byte[16];
        var first = new byte[plain.Length + protection.Overhead];
        var second = new byte[plain.Length + protection.Overhead];

        protection.Protect(plain, first);
        protection.Protect(plain, second);

        Assert.NotEqual(first, second);
    }

    [Fact]
    public void AnotherKey_OrAFlippedBit_DoesNotOpen()
    {
        using var protection = new AesGcmProtection(RandomNumberGenerator.GetBytes(32));
        using var other = new AesGcmProtection(RandomNumberGenerator.GetBytes(32));
        var plain = "secret"u8.ToArray();
        var sealedData = new byte[plain.Length + protection.Overhead];
        protection.Protect(plain, sealedData);
        var output = new byte[plain.Length];

        Assert.False(other.TryUnprotect(sealedData, output, out _));
        sealedData[14] ^= 1;
        Assert.False(protection.TryUnprotect(sealedData, output, out _));
        Assert.False(protection.TryUnprotect(new byte[10], output, out _));
    }

    [Fact]
    public void AKeyOfAnotherSize_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => new AesGcmProtection(new byte[16]));
        Assert.Contains("32 bytes", e.Message, StringComparison.Ordinal);
    }
}
