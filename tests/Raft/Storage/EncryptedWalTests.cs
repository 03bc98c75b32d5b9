using System.Security.Cryptography;
using System.Text;
using Shoal.Api;
using Shoal.Raft.Storage;
using static Shoal.Raft.Tests.Storage.DiskFaults;
using static Shoal.Raft.Tests.Storage.WalFixtures;

namespace Shoal.Raft.Tests.Storage;

public class EncryptedWalTests
{
    private static readonly byte[] Secret = Encoding.ASCII.GetBytes("TOP-SECRET-service-password-hunter2");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnEncryptedLog_ReadsBackWithItsKey()
    {
        using var temp = new TempDirectory();
        var key = RandomNumberGenerator.GetBytes(32);
        var entries = SecretEntries(1, 80);
        var marker = new RaftSnapshotMetadata { Index = 10, Term = 1 };
        using (var protection = new AesGcmProtection(key))
        {
            await using var log = Open(temp.Path, out _, SmallSegments with { Protector = protection });
            await log.SaveAsync(new RaftHardState { Term = 4, Vote = 2, Commit = 9 }, entries[..40], Ct);
            await log.SaveSnapshotMarkerAsync(marker, Ct);
            await log.SaveAsync(null, entries[40..], Ct);
        }

        using var reopened = new AesGcmProtection(key);
        var recovered = Reopen(temp.Path, SmallSegments with { Protector = reopened });

        Assert.Equal(new RaftHardState { Term = 4, Vote = 2, Commit = 9 }, recovered.HardState);
        Assert.Equal(marker, recovered.SnapshotMetadata);
        AssertEntries(entries.Skip(10), recovered.Entries);
    }

    [Fact]
    public async Task TheCiphertextOnDisk_DoesNotContainThePlaintext()
    {
        using var temp = new TempDirectory();
        var plainDirectory = temp.Sub("plain");
        var sealedDirectory = temp.Sub("sealed");
        using var protection = new AesGcmProtection(RandomNumberGenerator.GetBytes(32));
        await using (var log = Open(plainDirectory, out _))
        {
            await log.SaveAsync(null, SecretEntries(1, 20), Ct);
        }

        await using (var log = Open(sealedDirectory, out _, SmallSegments with { Protector = protection }))
        {
            await log.SaveAsync(null, SecretEntries(1, 20), Ct);
        }

        Assert.True(Contains(plainDirectory, Secret), "without protection the secret is on disk (the check itself works)");
        Assert.False(Contains(sealedDirectory, Secret), "with AES-GCM the secret must not be on disk");
    }

    [Fact]
    public async Task TheWrongKey_StopsTheOpen_WithAClearError()
    {
        using var temp = new TempDirectory();
        using (var protection = new AesGcmProtection(RandomNumberGenerator.GetBytes(32)))
        {
            await using var log = Open(temp.Path, out _, SmallSegments with { Protector = protection });
            await log.SaveAsync(null, SecretEntries(1, 5), Ct);
        }

        using var wrong = new AesGcmProtection(RandomNumberGenerator.GetBytes(32));

        var e = Assert.Throws<DataKeyMismatchException>(() => Reopen(temp.Path, SmallSegments with { Protector = wrong }));

        Assert.Equal(Segments(temp.Path)[0], e.File);
        Assert.Contains("data key", e.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFileName(e.File), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEncryptedLog_OpenedWithoutProtection_AndTheReverse_AreRefused()
    {
        using var temp = new TempDirectory();
        var sealedDirectory = temp.Sub("sealed");
        var plainDirectory = temp.Sub("plain");
        using var protection = new AesGcmProtection(RandomNumberGenerator.GetBytes(32));
        await using (var log = Open(sealedDirectory, out _, SmallSegments with { Protector = protection }))
        {
            await log.SaveAsync(null, SecretEntries(1, 5), Ct);
        }

        await using (var log = Open(plainDirectory, out _))
        {
            await log.SaveAsync(null, SecretEntries(1, 5), Ct);
        }

        Assert.Throws<DataKeyMismatchException>(() => Reopen(sealedDirectory));
        Assert.Throws<DataKeyMismatchException>(() => Reopen(plainDirectory, SmallSegments with { Protector = protection }));
    }

    [Fact]
    public async Task DamageInAnEncryptedLog_IsFoundByTheChecksum_WithoutTheKey()
    {
        using var temp = new TempDirectory();
        using var protection = new AesGcmProtection(RandomNumberGenerator.GetBytes(32));
        await using (var log = Open(temp.Path, out _, SmallSegments with { Protector = protection }))
        {
            await log.SaveAsync(null, SecretEntries(1, 60), Ct);
            await log.SaveAsync(null, SecretEntries(61, 60), Ct);
        }

        var first = Segments(temp.Path)[0];
        var record = Records(first)[10];
        FlipByte(first, record.PayloadOffset + 3);

        var e = Assert.Throws<WalCorruptionException>(() => Reopen(temp.Path, SmallSegments with { Protector = protection }));

        Assert.Equal(record.Offset, e.Offset);
        Assert.Contains("checksum", e.Message, StringComparison.Ordinal);
    }

    private static RaftEntry[] SecretEntries(ulong first, int count)
        => [.. Enumerable.Range(0, count).Select(k => new RaftEntry
        {
            Index = first + (ulong)k,
            Term = 1,
            Data = Google.Protobuf.ByteString.CopyFrom([.. Secret, .. Payload(first + (ulong)k, 1, 64)]),
        })];

    private static bool Contains(string directory, byte[] needle)
        => Directory.GetFiles(directory).Any(file => File.ReadAllBytes(file).AsSpan().IndexOf(needle) >= 0);
}
