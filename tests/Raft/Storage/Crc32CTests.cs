using Shoal.Raft.Storage;

namespace Shoal.Raft.Tests.Storage;

public class Crc32CTests
{
    private const uint CheckValue = 0xE3069283;

    [Fact]
    public void Software_GivesTheStandardCheckValue() => Assert.Equal(CheckValue, Crc32C.ComputeSoftware("123456789"u8));

    [Fact]
    public void Hardware_GivesTheStandardCheckValue()
    {
        Assert.SkipUnless(Crc32C.IsHardwareAccelerated, "this CPU has no CRC-32C instructions");
        Assert.Equal(CheckValue, Crc32C.ComputeHardware("123456789"u8));
    }

    [Fact]
    public void Compute_GivesTheStandardCheckValue() => Assert.Equal(CheckValue, Crc32C.Compute("123456789"u8));

    [Theory]
    [InlineData(0x00, 0x8A9136AAu)]
    [InlineData(0xFF, 0x62A8AB43u)]
    public void BothPaths_MatchTheIscsiVectors_ForThirtyTwoEqualBytes(byte value, uint expected)
    {
        var data = Enumerable.Repeat(value, 32).ToArray();
        Assert.Equal(expected, Crc32C.ComputeSoftware(data));
        Assert.Equal(expected, Crc32C.Compute(data));
    }

    [Fact]
    public void BothPaths_MatchTheIscsiVector_ForAscendingBytes()
    {
        var data = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        Assert.Equal(0x46DD794Eu, Crc32C.ComputeSoftware(data));
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(data));
    }

    [Fact]
    public void HardwareAndSoftware_Agree_OnEveryLengthAndAlignment()
    {
        Assert.SkipUnless(Crc32C.IsHardwareAccelerated, "this CPU has no CRC-32C instructions");
        var random = new Random(7);
        var data = new byte[300];
        random.NextBytes(data);
        for (var start = 0; start < 9; start++)
        {
            for (var length = 0; length <= data.Length - start; length += 1 + (length / 16))
            {
                var span = data.AsSpan(start, length);
                Assert.Equal(Crc32C.ComputeSoftware(span), Crc32C.ComputeHardware(span));
            }
        }
    }

    [Fact]
    public void Append_ContinuesACrc_AsIfTheBytesWereOneSpan()
    {
        var data = "The quick brown fox jumps over the lazy dog"u8.ToArray();
        for (var split = 0; split <= data.Length; split++)
        {
            var crc = Crc32C.Append(Crc32C.Compute(data.AsSpan(0, split)), data.AsSpan(split));
            Assert.Equal(Crc32C.Compute(data), crc);
        }
    }
}
