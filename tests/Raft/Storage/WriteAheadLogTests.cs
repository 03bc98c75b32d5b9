using Microsoft.Extensions.Logging;
using Shoal.Api;
using Shoal.Raft.Storage;
using static Shoal.Raft.Tests.Storage.DiskFaults;
using static Shoal.Raft.Tests.Storage.WalFixtures;

namespace Shoal.Raft.Tests.Storage;

public class WriteAheadLogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SavedHardStateAndEntries_ReadBackAfterReopen_AcrossManySegments()
    {
        using var temp = new TempDirectory();
        var written = new List<RaftEntry>();
        var hardState = new RaftHardState();
        await using (var log = Open(temp.Path, out var fresh))
        {
            Assert.Empty(fresh.Entries);
            Assert.Null(fresh.SnapshotMetadata);
            Assert.Equal(new RaftHardState(), fresh.HardState);

            ulong next = 1;
            for (var batch = 0; batch < 40; batch++)
            {
                var entries = Entries(next, 1 + (batch % 7), term: 1 + ((ulong)batch / 10), size: 150);
                hardState = new RaftHardState { Term = entries[^1].Term, Vote = 2, Commit = next };
                await log.SaveAsync(hardState, entries, Ct);
                written.AddRange(entries);
                next += (ulong)entries.Count;
            }

            Assert.Equal(next - 1, log.LastIndex);
            Assert.True(log.SegmentCount > 5, $"expected many segments, got {log.SegmentCount}");
        }

        var recovered = Reopen(temp.Path);

        Assert.Equal(hardState, recovered.HardState);
        AssertEntries(written, recovered.Entries);
        Assert.All(Segments(temp.Path), file => Assert.Matches("^[0-9a-f]{16}-[0-9a-f]{16}\\.wal$", Path.GetFileName(file)));
        Assert.Equal("0000000000000001-0000000000000001.wal", Path.GetFileName(Segments(temp.Path)[0]));
    }

    [Fact]
    public async Task ASegmentName_CarriesItsSequenceAndFirstIndex()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(1, 30, term: 1, size: 200), Ct);
            await log.SaveAsync(null, Entries(31, 30, term: 1, size: 200), Ct);
        }

        var names = Segments(temp.Path).Select(Path.GetFileName).ToArray();
        Assert.Equal(["0000000000000001-0000000000000001.wal", "0000000000000002-000000000000001f.wal"], names);
    }

    [Fact]
    public async Task ASuffixOverwrittenByANewLeader_ReadsBackAsTheNewSuffix()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(new RaftHardState { Term = 1 }, Entries(1, 50, term: 1), Ct);
            await log.SaveAsync(new RaftHardState { Term = 2 }, Entries(31, 5, term: 2), Ct);
            Assert.Equal(35UL, log.LastIndex);
            await log.SaveAsync(null, Entries(36, 3, term: 2), Ct);
            await log.SaveAsync(new RaftHardState { Term = 3 }, Entries(37, 1, term: 3), Ct);
        }

        var recovered = Reopen(temp.Path);

        AssertEntries([.. Entries(1, 30, 1), .. Entries(31, 6, 2), Entry(37, 3)], recovered.Entries);
        Assert.Equal(3UL, recovered.HardState.Term);
    }

    [Fact]
    public async Task ATornFinalWrite_CutAtEveryByte_IsTruncated_AndTheLogContinuesBeforeIt()
    {
        using var temp = new TempDirectory();
        var original = temp.Sub("original");
        long before;
        long after;
        string segment;
        await using (var log = Open(original, out _, new WalOptions()))
        {
            await log.SaveAsync(new RaftHardState { Term = 1, Commit = 3 }, Entries(1, 4, term: 1), Ct);
            segment = Segments(original).Single();
            before = new FileInfo(segment).Length;
            await log.SaveAsync(null, [Entry(5, 1, size: 60)], Ct);
            after = new FileInfo(segment).Length;
        }

        for (var cut = before; cut < after; cut++)
        {
            var copy = temp.Sub("cut-" + cut);
            CopyDirectory(original, copy);
            var file = Path.Combine(copy, Path.GetFileName(segment));
            Truncate(file, cut);
            var logger = new LogCapture();

            await using (var log = Open(copy, out var recovered, new WalOptions(), logger))
            {
                AssertEntries(Entries(1, 4, term: 1), recovered.Entries);
                Assert.Equal(3UL, recovered.HardState.Commit);
                Assert.Equal(4UL, log.LastIndex);
                if (cut > before)
                {
                    var warning = Assert.Single(logger.Warnings);
                    Assert.Contains(file, warning, StringComparison.Ordinal);
                    Assert.Contains($"offset {before}", warning, StringComparison.Ordinal);
                }

                await log.SaveAsync(null, [Entry(5, 2)], Ct);
            }

            Assert.Equal(before + (after - before - 60 + 100), new FileInfo(file).Length);
            AssertEntries([.. Entries(1, 4, term: 1), Entry(5, 2)], Reopen(copy, new WalOptions()).Entries);
        }
    }

    [Fact]
    public async Task AFlippedByte_InTheLastRecordOfTheLastSegment_IsATornWrite()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(1, 60, term: 1), Ct);
            await log.SaveAsync(null, Entries(61, 3, term: 1), Ct);
        }

        var last = Segments(temp.Path)[^1];
        var record = Records(last)[^1];
        FlipByte(last, record.PayloadOffset + 20);
        var logger = new LogCapture();

        var recovered = Reopen(temp.Path, logger: logger);

        AssertEntries(Entries(1, 62, term: 1), recovered.Entries);
        var warning = Assert.Single(logger.Warnings);
        Assert.Contains($"offset {record.Offset}", warning, StringComparison.Ordinal);
        Assert.Equal(record.Offset, new FileInfo(last).Length);
    }

    [Fact]
    public async Task AFlippedByte_InAMiddleRecordOfAnEarlierSegment_StopsTheOpen_NamingFileAndOffset()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(1, 100, term: 1), Ct);
            for (ulong index = 101; index <= 200; index += 10)
            {
                await log.SaveAsync(null, Entries(index, 10, term: 1), Ct);
            }
        }

        var segments = Segments(temp.Path);
        Assert.True(segments.Length >= 3);
        var damaged = segments[1];
        var records = Records(damaged);
        var middle = records[records.Count / 2];
        FlipByte(damaged, middle.PayloadOffset + 5);

        var e = Assert.Throws<WalCorruptionException>(() => Reopen(temp.Path));

        Assert.Equal(damaged, e.File);
        Assert.Equal(middle.Offset, e.Offset);
        Assert.Contains(Path.GetFileName(damaged), e.Message, StringComparison.Ordinal);
        Assert.Contains($"offset {middle.Offset}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFlippedByte_InTheLastSegment_WithValidRecordsAfterIt_IsCorruptionNotATornWrite()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _, new WalOptions()))
        {
            for (ulong index = 1; index <= 10; index++)
            {
                await log.SaveAsync(null, [Entry(index, 1)], Ct);
            }
        }

        var segment = Segments(temp.Path).Single();
        var records = Records(segment);
        var middle = records[5];
        FlipByte(segment, middle.Offset + 2);
        var length = new FileInfo(segment).Length;

        var e = Assert.Throws<WalCorruptionException>(() => Reopen(temp.Path, new WalOptions()));

        Assert.Equal(middle.Offset, e.Offset);
        Assert.Contains($"valid record follows at offset {records[6].Offset}", e.Message, StringComparison.Ordinal);
        Assert.Equal(length, new FileInfo(segment).Length);
    }

    [Fact]
    public async Task AZeroFilledTail_IsTheEndOfTheLog()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(1, 5, term: 1), Ct);
        }

        var segment = Segments(temp.Path).Single();
        var length = new FileInfo(segment).Length;
        await using (var stream = new FileStream(segment, FileMode.Append))
        {
            await stream.WriteAsync(new byte[8192], Ct);
        }

        var recovered = Reopen(temp.Path);

        AssertEntries(Entries(1, 5, term: 1), recovered.Entries);
        Assert.Equal(length, new FileInfo(segment).Length);
    }

    [Fact]
    public async Task AWholeRecordOfAnUnknownType_IsRefused_NotCutAwayAsATornWrite()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(1, 3, term: 1), Ct);
        }

        var segment = Segments(temp.Path).Single();
        var length = new FileInfo(segment).Length;
        byte[] record = [1, 0, 0, 0, 0, 0, 0, 0, 42, 7];
        var crc = Crc32C.Append(Crc32C.Compute(record.AsSpan(0, 4)), record.AsSpan(8));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(4), crc);
        await using (var stream = new FileStream(segment, FileMode.Append))
        {
            await stream.WriteAsync(record, Ct);
        }

        var e = Assert.Throws<NotSupportedException>(() => Reopen(temp.Path));

        Assert.Contains($"type 42 at offset {length}", e.Message, StringComparison.Ordinal);
        Assert.Equal(length + record.Length, new FileInfo(segment).Length);
    }

    [Fact]
    public async Task ALastSegmentTornWhileBeingCreated_IsRemoved_AndThePreviousOneGoesOn()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(1, 20, term: 1), Ct);
        }

        var torn = Path.Combine(temp.Path, "0000000000000002-0000000000000015.wal");
        await File.WriteAllBytesAsync(torn, [7, 0, 0], Ct);
        var logger = new LogCapture();

        await using (var log = Open(temp.Path, out var recovered, logger: logger))
        {
            AssertEntries(Entries(1, 20, term: 1), recovered.Entries);
            Assert.False(File.Exists(torn));
            Assert.Contains(logger.Warnings, w => w.Contains(torn, StringComparison.Ordinal));
            await log.SaveAsync(null, Entries(21, 40, term: 1), Ct);
        }

        AssertEntries(Entries(1, 60, term: 1), Reopen(temp.Path).Entries);
    }

    [Fact]
    public async Task AMissingSegment_StopsTheOpen()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            for (ulong index = 1; index <= 200; index += 20)
            {
                await log.SaveAsync(null, Entries(index, 20, term: 1), Ct);
            }
        }

        var segments = Segments(temp.Path);
        File.Delete(segments[2]);

        var e = Assert.Throws<WalCorruptionException>(() => Reopen(temp.Path));

        Assert.Equal(segments[3], e.File);
        Assert.Contains("missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReleaseTo_DeletesSegmentsBelowTheSnapshot_AndRecoveryStartsAtTheMarker()
    {
        using var temp = new TempDirectory();
        var marker = new RaftSnapshotMetadata { Index = 150, Term = 1 };
        marker.Members.Add(new RaftMember { RaftId = 1, NodeId = "n1", Addr = "10.0.0.1:4242" });
        int before;
        await using (var log = Open(temp.Path, out _))
        {
            // The hard state is written once, early: it must survive the deletion of its segment.
            await log.SaveAsync(new RaftHardState { Term = 1, Vote = 1, Commit = 1 }, [Entry(1, 1)], Ct);
            for (ulong index = 2; index <= 200; index += 11)
            {
                await log.SaveAsync(null, Entries(index, 11, term: 1), Ct);
            }

            await log.SaveSnapshotMarkerAsync(marker, Ct);
            before = log.SegmentCount;

            Assert.Throws<InvalidOperationException>(() => log.ReleaseTo(151));
            log.ReleaseTo(140);

            Assert.True(log.SegmentCount <= before - 3, $"{before} segments before, {log.SegmentCount} after");
            Assert.Equal(log.SegmentCount, Segments(temp.Path).Length);
            await log.SaveAsync(null, Entries(210, 5, term: 1), Ct);
        }

        var recovered = Reopen(temp.Path);

        Assert.Equal(marker, recovered.SnapshotMetadata);
        Assert.Equal(new RaftHardState { Term = 1, Vote = 1, Commit = 1 }, recovered.HardState);
        AssertEntries(Entries(151, 64, term: 1), recovered.Entries);
    }

    [Fact]
    public async Task ReleaseTo_NeverDeletesTheActiveSegment()
    {
        using var temp = new TempDirectory();
        await using var log = Open(temp.Path, out _);
        await log.SaveAsync(null, Entries(1, 80, term: 1), Ct);
        await log.SaveSnapshotMarkerAsync(new RaftSnapshotMetadata { Index = 80, Term = 1 }, Ct);

        log.ReleaseTo(80);

        Assert.Equal(1, log.SegmentCount);
        Assert.Single(Segments(temp.Path));
    }

    [Fact]
    public async Task AMarkerThatReplacesTheLog_DiscardsEveryEarlierEntry()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(1, 30, term: 1), Ct);
            await log.SaveSnapshotMarkerAsync(new RaftSnapshotMetadata { Index = 20, Term = 3 }, replacesLog: true, Ct);

            Assert.Equal(20UL, log.LastIndex);
            await Assert.ThrowsAsync<ArgumentException>(() => log.SaveAsync(null, [Entry(25, 3)], Ct).AsTask());
        }

        var recovered = Reopen(temp.Path);
        Assert.Empty(recovered.Entries);
        Assert.Equal(20UL, recovered.SnapshotMetadata!.Index);

        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(21, 3, term: 3), Ct);
        }

        AssertEntries(Entries(21, 3, term: 3), Reopen(temp.Path).Entries);
    }

    [Fact]
    public async Task AMarkerThatKeepsTheLog_DropsOnlyTheEntriesItCovers()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(1, 30, term: 1), Ct);
            await log.SaveSnapshotMarkerAsync(new RaftSnapshotMetadata { Index = 20, Term = 1 }, Ct);
            Assert.Equal(30UL, log.LastIndex);
        }

        AssertEntries(Entries(21, 10, term: 1), Reopen(temp.Path).Entries);
    }

    [Fact]
    public async Task EntriesThatLeaveAGap_OrRewriteTheSnapshot_AreRefused()
    {
        using var temp = new TempDirectory();
        await using var log = Open(temp.Path, out _);
        await log.SaveAsync(null, Entries(1, 10, term: 1), Ct);
        await log.SaveSnapshotMarkerAsync(new RaftSnapshotMetadata { Index = 5, Term = 1 }, Ct);

        await Assert.ThrowsAsync<ArgumentException>(() => log.SaveAsync(null, [Entry(12, 1)], Ct).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => log.SaveAsync(null, [Entry(5, 2)], Ct).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => log.SaveAsync(null, [Entry(11, 1), Entry(13, 1)], Ct).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => log.SaveSnapshotMarkerAsync(new RaftSnapshotMetadata { Index = 4 }, Ct).AsTask());

        await log.SaveAsync(null, [Entry(6, 2)], Ct);
        Assert.Equal(6UL, log.LastIndex);
    }

    [Fact]
    public async Task NothingToSave_WritesNothing()
    {
        using var temp = new TempDirectory();
        await using var log = Open(temp.Path, out _);
        await log.SaveAsync(new RaftHardState { Term = 2 }, Entries(1, 2, term: 2), Ct);
        var segment = Segments(temp.Path).Single();
        var length = new FileInfo(segment).Length;

        await log.SaveAsync(null, [], Ct);
        await log.SaveAsync(new RaftHardState { Term = 2 }, [], Ct);

        Assert.Equal(length, new FileInfo(segment).Length);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task TheLogsFiles_AreReadableByTheOwnerOnly()
    {
        using var temp = new TempDirectory();
        var directory = temp.Sub("raft/wal");
        await using var log = Open(directory, out _);
        await log.SaveAsync(null, Entries(1, 100, term: 1), Ct);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
        Assert.All(Segments(directory), file => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file)));
    }

    [Fact]
    public async Task ASecondOpenOfTheSameDirectory_IsRefusedWhileTheFirstIsOpen()
    {
        using var temp = new TempDirectory();
        await using var log = Open(temp.Path, out _);
        await log.SaveAsync(null, Entries(1, 3, term: 1), Ct);

        Assert.Throws<IOException>(() => Reopen(temp.Path));
    }

    [Fact]
    public async Task OverlappingCalls_AreRefused()
    {
        using var temp = new TempDirectory();
        using var gate = new SemaphoreSlim(0);
        using var entered = new SemaphoreSlim(0);
        var protector = new GatedProtector(gate, entered);
        await using var log = Open(temp.Path, out _, new WalOptions { Protector = protector });
        protector.Armed = true;

        var first = Task.Run(() => log.SaveAsync(null, [Entry(1, 1)], Ct).AsTask(), Ct);
        Assert.True(await entered.WaitAsync(TimeSpan.FromSeconds(10), Ct), "the first save should reach the protector");

        await Assert.ThrowsAsync<InvalidOperationException>(() => log.SaveAsync(null, [Entry(1, 1)], Ct).AsTask());
        Assert.Throws<InvalidOperationException>(() => log.ReleaseTo(0));

        protector.Armed = false;
        gate.Release();
        await first;
        Assert.Equal(1UL, log.LastIndex);
    }

    [Fact]
    public async Task Opening_LogsWhatWasRecovered()
    {
        using var temp = new TempDirectory();
        await using (var log = Open(temp.Path, out _))
        {
            await log.SaveAsync(null, Entries(1, 3, term: 1), Ct);
        }

        var logger = new LogCapture();
        Reopen(temp.Path, logger: logger);

        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Information && l.Message.Contains("3 entries up to index 3", StringComparison.Ordinal));
    }

    /// <summary>No protection, but a protect that waits on a gate when armed: holds a save in the middle.</summary>
    private sealed class GatedProtector(SemaphoreSlim gate, SemaphoreSlim entered) : IPayloadProtector
    {
        public bool Armed { get; set; }

        public int Overhead => 0;

        public void Protect(ReadOnlySpan<byte> plain, Span<byte> output)
        {
            if (Armed)
            {
                entered.Release();
                gate.Wait(TimeSpan.FromSeconds(10));
            }

            plain.CopyTo(output);
        }

        public bool TryUnprotect(ReadOnlySpan<byte> sealedData, Span<byte> output, out int written)
        {
            sealedData.CopyTo(output);
            written = sealedData.Length;
            return true;
        }
    }
}
