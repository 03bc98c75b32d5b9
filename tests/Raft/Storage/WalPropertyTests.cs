using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Shoal.Api;
using Shoal.Raft.Storage;
using static Shoal.Raft.Tests.Storage.WalFixtures;

namespace Shoal.Raft.Tests.Storage;

/// <summary>
/// Random sequences of saves (with overwritten suffixes), snapshot markers, releases and reopens, generated and shrunk
/// by FsCheck, against a plain in-memory model of a Raft log: every reopen must read back exactly the model.
/// </summary>
public class WalPropertyTests
{
    // Fsync is off: the property is about the format and recovery logic; durability has its own tests.
    private static readonly WalOptions Options = new() { SegmentSize = WalOptions.MinSegmentSize, Fsync = false };

    [Property(MaxTest = 150, Arbitrary = [typeof(WalOps)])]
    public void RandomSaves_ThenReopen_ReadBackAsTheModel(WalOp[] ops)
    {
        using var temp = new TempDirectory();
        var model = new Model();
        var log = WriteAheadLog.Open(temp.Path, Options, null, out _);
        try
        {
            ulong term = 1;
            foreach (var (kind, a, b) in ops)
            {
                switch (kind)
                {
                    case < 8:
                        // Append or overwrite: start anywhere from just above the snapshot to just past the end.
                        var start = model.SnapshotIndex + 1 + (a % (model.LastIndex - model.SnapshotIndex + 1));
                        var entries = Entries(start, (int)(b % 8), term, size: 20 + (int)(a % 1500));
                        var hardState = a % 3 == 0 ? new RaftHardState { Term = term, Vote = b % 3, Commit = start - 1 } : null;
                        Wait(log.SaveAsync(hardState, entries));
                        model.Save(hardState, entries);
                        term += a % 4 == 0 ? 1UL : 0UL;
                        break;
                    case 8:
                        // A single entry larger than a segment.
                        var large = Entries(model.LastIndex + 1, 1, term, size: 5000 + (int)(b % 3000));
                        Wait(log.SaveAsync(null, large));
                        model.Save(null, large);
                        break;
                    case 9:
                    case 10:
                        var kept = Metadata(model.LastIndex - (a % (model.LastIndex - model.SnapshotIndex + 1)), term);
                        Wait(log.SaveSnapshotMarkerAsync(kept));
                        model.Mark(kept, replacesLog: false);
                        break;
                    case 11:
                        var replacing = Metadata(model.LastIndex + 5 - (a % (model.LastIndex - model.SnapshotIndex + 5)), term);
                        Wait(log.SaveSnapshotMarkerAsync(replacing, replacesLog: true));
                        model.Mark(replacing, replacesLog: true);
                        break;
                    case 12:
                    case 13:
                        log.ReleaseTo(model.SnapshotIndex - (a % (model.SnapshotIndex + 1) / 4));

                        break;
                    default:
                        Wait(log.DisposeAsync());
                        log = WriteAheadLog.Open(temp.Path, Options, null, out var recovered);
                        model.AssertMatches(recovered, log);
                        break;
                }

                Assert.Equal(model.LastIndex, log.LastIndex);
            }

            Wait(log.DisposeAsync());
            log = WriteAheadLog.Open(temp.Path, Options, null, out var final);
            model.AssertMatches(final, log);
        }
        finally
        {
            Wait(log.DisposeAsync());
        }
    }

    /// <summary>One step: <paramref name="Kind"/> picks the operation (0–15), <paramref name="A"/> and
    /// <paramref name="B"/> its arguments.</summary>
    public sealed record WalOp(int Kind, ulong A, ulong B);

    /// <summary>Sequences of up to 200 steps with arguments spread over their whole range; a failing sequence
    /// shrinks by dropping steps.</summary>
    public static class WalOps
    {
        public static Arbitrary<WalOp[]> Sequences()
        {
            var argument = Gen.Choose(0, int.MaxValue).Select(v => (ulong)v);
            var step = Gen.Choose(0, 15).SelectMany(kind => argument.SelectMany(a => argument.Select(b => new WalOp(kind, a, b))));
            var sequence = Gen.Sized(size => Gen.Choose(0, 2 * size).SelectMany(length => Gen.ArrayOf(step, length)));
            return Arb.From(sequence, Shrink);
        }

        private static IEnumerable<WalOp[]> Shrink(WalOp[] ops)
        {
            for (var half = ops.Length / 2; half > 0 && ops.Length > 1; half /= 2)
            {
                yield return ops[..half];
            }

            for (var k = 0; k < ops.Length; k++)
            {
                yield return [.. ops[..k], .. ops[(k + 1)..]];
            }
        }
    }

    // The log completes its work synchronously; this keeps the property a plain method.
    private static void Wait(ValueTask task) => task.AsTask().GetAwaiter().GetResult();

    private static RaftSnapshotMetadata Metadata(ulong index, ulong term) => new() { Index = index, Term = term };

    /// <summary>A Raft log as a list: entries above the snapshot, the newest marker and hard state.</summary>
    private sealed class Model
    {
        private readonly List<RaftEntry> _entries = [];
        private RaftSnapshotMetadata? _marker;
        private RaftHardState _hardState = new();

        public ulong SnapshotIndex { get; private set; }

        public ulong LastIndex => _entries.Count > 0 ? _entries[^1].Index : SnapshotIndex;

        public void Save(RaftHardState? hardState, List<RaftEntry> entries)
        {
            if (entries.Count > 0)
            {
                _entries.RemoveAll(e => e.Index >= entries[0].Index);
                _entries.AddRange(entries);
            }

            _hardState = hardState ?? _hardState;
        }

        public void Mark(RaftSnapshotMetadata metadata, bool replacesLog)
        {
            if (replacesLog)
            {
                _entries.Clear();
            }

            _entries.RemoveAll(e => e.Index <= metadata.Index);
            _marker = metadata;
            SnapshotIndex = metadata.Index;
        }

        public void AssertMatches(RecoveredLog recovered, WriteAheadLog log)
        {
            AssertEntries(_entries, recovered.Entries);
            Assert.Equal(_hardState, recovered.HardState);
            Assert.Equal(_marker, recovered.SnapshotMetadata);
            Assert.Equal(LastIndex, log.LastIndex);
            Assert.Equal(SnapshotIndex, log.SnapshotIndex);
        }
    }
}
