using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Shoal.Api;
using Shoal.Raft.Storage;
using static Shoal.Raft.Tests.Storage.DiskFaults;

namespace Shoal.Raft.Tests.Storage;

public class SnapshotStoreTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void AnEmptyStore_HasNoSnapshot()
    {
        using var temp = new TempDirectory();
        Assert.Null(new SnapshotStore(temp.Sub("snap")).LoadNewest());
    }

    [Fact]
    public async Task Saved_ThenLoaded_GivesTheNewestSnapshot_UnderItsTermAndIndex()
    {
        using var temp = new TempDirectory();
        var store = new SnapshotStore(temp.Path, keep: 5);
        await store.SaveAsync(Snapshot(term: 2, index: 100), Ct);
        await store.SaveAsync(Snapshot(term: 3, index: 10144), Ct);
        await store.SaveAsync(Snapshot(term: 3, index: 5000), Ct);

        var loaded = new SnapshotStore(temp.Path, keep: 5).LoadNewest();

        Assert.Equal(Snapshot(term: 3, index: 10144), loaded);
        Assert.True(File.Exists(Path.Combine(temp.Path, "0000000000000003-00000000000027a0.snap")));
        Assert.Empty(Directory.GetFiles(temp.Path, "*.tmp"));
    }

    [Fact]
    public async Task ADamagedNewestSnapshot_IsSkippedForAnOlderOne_WithAWarningNamingIt()
    {
        using var temp = new TempDirectory();
        var store = new SnapshotStore(temp.Path);
        await store.SaveAsync(Snapshot(term: 1, index: 10), Ct);
        await store.SaveAsync(Snapshot(term: 1, index: 20), Ct);
        var newest = Path.Combine(temp.Path, SnapshotStore.FileName(1, 20));
        FlipByte(newest, new FileInfo(newest).Length - 7);
        var logger = new LogCapture();

        var loaded = new SnapshotStore(temp.Path, logger: logger).LoadNewest();

        Assert.Equal(Snapshot(term: 1, index: 10), loaded);
        var warning = Assert.Single(logger.Warnings);
        Assert.Contains(newest, warning, StringComparison.Ordinal);
        Assert.Contains("checksum", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACutShortSnapshot_IsSkipped_AndNoValidOne_MeansNull()
    {
        using var temp = new TempDirectory();
        var store = new SnapshotStore(temp.Path);
        await store.SaveAsync(Snapshot(term: 1, index: 10), Ct);
        var file = Path.Combine(temp.Path, SnapshotStore.FileName(1, 10));
        Truncate(file, new FileInfo(file).Length / 2);
        var logger = new LogCapture();

        Assert.Null(new SnapshotStore(temp.Path, logger: logger).LoadNewest());
        Assert.Contains(file, Assert.Single(logger.Warnings), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Saving_KeepsOnlyTheNewestN()
    {
        using var temp = new TempDirectory();
        var store = new SnapshotStore(temp.Path, keep: 2);
        for (ulong index = 1; index <= 5; index++)
        {
            await store.SaveAsync(Snapshot(term: 1, index: index * 100), Ct);
        }

        var names = Directory.GetFiles(temp.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal([SnapshotStore.FileName(1, 400), SnapshotStore.FileName(1, 500)], names);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task SnapshotFiles_AreReadableByTheOwnerOnly()
    {
        using var temp = new TempDirectory();
        var directory = temp.Sub("snap");
        await new SnapshotStore(directory).SaveAsync(Snapshot(1, 1), Ct);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Directory.GetFiles(directory).Single()));
    }

    [Fact]
    public async Task AnEncryptedSnapshot_ReadsBackWithItsKey_HidesItsContent_AndRefusesAnotherKey()
    {
        using var temp = new TempDirectory();
        var key = RandomNumberGenerator.GetBytes(32);
        using var protection = new AesGcmProtection(key);
        using var sameKey = new AesGcmProtection(key);
        using var otherKey = new AesGcmProtection(RandomNumberGenerator.GetBytes(32));
        await new SnapshotStore(temp.Path, protector: protection).SaveAsync(Snapshot(term: 1, index: 7), Ct);

        Assert.Equal(Snapshot(term: 1, index: 7), new SnapshotStore(temp.Path, protector: sameKey).LoadNewest());
        var bytes = await File.ReadAllBytesAsync(Directory.GetFiles(temp.Path).Single(), Ct);
        Assert.True(bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes("store state at 7")) < 0);
        Assert.Throws<DataKeyMismatchException>(() => new SnapshotStore(temp.Path, protector: otherKey).LoadNewest());
        Assert.Throws<DataKeyMismatchException>(() => new SnapshotStore(temp.Path).LoadNewest());
    }

    private static RaftSnapshot Snapshot(ulong term, ulong index)
    {
        var metadata = new RaftSnapshotMetadata { Term = term, Index = index };
        metadata.Members.Add(new RaftMember { RaftId = 1, NodeId = "node-1", Addr = "10.0.0.1:4242" });
        metadata.Removed.Add(9);
        return new RaftSnapshot { Metadata = metadata, Data = ByteString.CopyFromUtf8($"store state at {index} " + new string('x', 500)) };
    }
}
