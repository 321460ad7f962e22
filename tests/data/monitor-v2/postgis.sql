--
-- PostgreSQL database dump
--

\restrict lXG3uJaZGvn5w1NSZ5dM4ZOsFzqfG7U5fTMosiWLbeDK8ndOddkxXi6OfNWDqIG

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: lc_v2fixture; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA lc_v2fixture;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: alert_events; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.alert_events (
    seq bigint NOT NULL,
    run_id text,
    date text,
    change_type text,
    alert_fid integer,
    alert_id text,
    event text,
    status text,
    confidence_tier text
);


--
-- Name: alert_events_seq_seq; Type: SEQUENCE; Schema: lc_v2fixture; Owner: -
--

CREATE SEQUENCE lc_v2fixture.alert_events_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: alert_events_seq_seq; Type: SEQUENCE OWNED BY; Schema: lc_v2fixture; Owner: -
--

ALTER SEQUENCE lc_v2fixture.alert_events_seq_seq OWNED BY lc_v2fixture.alert_events.seq;


--
-- Name: alerts_deforestation; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.alerts_deforestation (
    fid integer NOT NULL,
    geom public.geometry(MultiPolygon,32643),
    alert_id text,
    change_type text,
    status text,
    class_from text,
    class_to text,
    first_detected text,
    last_observed text,
    observations integer,
    confidence double precision,
    confidence_tier text,
    area_ha double precision,
    area_first_ha double precision,
    growth_count integer,
    pixel_count integer,
    scene_ids text,
    model_version text,
    first_run_id text,
    last_run_id text,
    recovery_looks integer,
    status_date text
);


--
-- Name: alerts_new; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.alerts_new (
    fid integer NOT NULL,
    geom public.geometry(MultiPolygon,32643),
    alert_id text,
    change_type text,
    status text,
    class_from text,
    class_to text,
    first_detected text,
    last_observed text,
    observations integer,
    confidence double precision,
    confidence_tier text,
    area_ha double precision,
    area_first_ha double precision,
    growth_count integer,
    pixel_count integer,
    scene_ids text,
    model_version text,
    first_run_id text,
    last_run_id text,
    recovery_looks integer,
    status_date text,
    run_id text,
    events text
);


--
-- Name: alerts_water_gain; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.alerts_water_gain (
    fid integer NOT NULL,
    geom public.geometry(MultiPolygon,32643),
    alert_id text,
    change_type text,
    status text,
    class_from text,
    class_to text,
    first_detected text,
    last_observed text,
    observations integer,
    confidence double precision,
    confidence_tier text,
    area_ha double precision,
    area_first_ha double precision,
    growth_count integer,
    pixel_count integer,
    scene_ids text,
    model_version text,
    first_run_id text,
    last_run_id text,
    recovery_looks integer,
    status_date text
);


--
-- Name: alerts_water_loss; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.alerts_water_loss (
    fid integer NOT NULL,
    geom public.geometry(MultiPolygon,32643),
    alert_id text,
    change_type text,
    status text,
    class_from text,
    class_to text,
    first_detected text,
    last_observed text,
    observations integer,
    confidence double precision,
    confidence_tier text,
    area_ha double precision,
    area_first_ha double precision,
    growth_count integer,
    pixel_count integer,
    scene_ids text,
    model_version text,
    first_run_id text,
    last_run_id text,
    recovery_looks integer,
    status_date text
);


--
-- Name: consumers; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.consumers (
    name text NOT NULL,
    acked_seq bigint,
    acked_at text
);


--
-- Name: job; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.job (
    key text NOT NULL,
    value text
);


--
-- Name: pixel_state; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.pixel_state (
    name text NOT NULL,
    row0 integer NOT NULL,
    nrows integer,
    ncols integer,
    dtype text,
    data bytea
);


--
-- Name: runs; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.runs (
    fid integer NOT NULL,
    run_id text,
    seq integer,
    status text,
    started_at text,
    seconds double precision,
    model_version text,
    scenes_processed integer,
    scenes_cloudy integer,
    scenes_late integer,
    alerts_new integer,
    alerts_confirmed integer,
    alerts_rejected integer,
    alerts_grown integer,
    summary text
);


--
-- Name: runs_fid_seq; Type: SEQUENCE; Schema: lc_v2fixture; Owner: -
--

CREATE SEQUENCE lc_v2fixture.runs_fid_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: runs_fid_seq; Type: SEQUENCE OWNED BY; Schema: lc_v2fixture; Owner: -
--

ALTER SEQUENCE lc_v2fixture.runs_fid_seq OWNED BY lc_v2fixture.runs.fid;


--
-- Name: scenes; Type: TABLE; Schema: lc_v2fixture; Owner: -
--

CREATE TABLE lc_v2fixture.scenes (
    fid integer NOT NULL,
    scene_id text,
    date text,
    obs_number integer,
    status text,
    clear_fraction double precision,
    run_id text,
    model_version text,
    reason text,
    fingerprint text
);


--
-- Name: scenes_fid_seq; Type: SEQUENCE; Schema: lc_v2fixture; Owner: -
--

CREATE SEQUENCE lc_v2fixture.scenes_fid_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: scenes_fid_seq; Type: SEQUENCE OWNED BY; Schema: lc_v2fixture; Owner: -
--

ALTER SEQUENCE lc_v2fixture.scenes_fid_seq OWNED BY lc_v2fixture.scenes.fid;


--
-- Name: alert_events seq; Type: DEFAULT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.alert_events ALTER COLUMN seq SET DEFAULT nextval('lc_v2fixture.alert_events_seq_seq'::regclass);


--
-- Name: runs fid; Type: DEFAULT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.runs ALTER COLUMN fid SET DEFAULT nextval('lc_v2fixture.runs_fid_seq'::regclass);


--
-- Name: scenes fid; Type: DEFAULT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.scenes ALTER COLUMN fid SET DEFAULT nextval('lc_v2fixture.scenes_fid_seq'::regclass);


--
-- Data for Name: alert_events; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--

INSERT INTO lc_v2fixture.alert_events VALUES (1, 'run-00001', '2018-03-19', 'deforestation', 1, 'deforestation:mumbai_20180319:r9c35', 'new', 'unconfirmed', 'low');
INSERT INTO lc_v2fixture.alert_events VALUES (2, 'run-00001', '2018-03-19', 'deforestation', 2, 'deforestation:mumbai_20180319:r49c88', 'new', 'unconfirmed', 'low');
INSERT INTO lc_v2fixture.alert_events VALUES (3, 'run-00001', '2018-03-19', 'deforestation', 3, 'deforestation:mumbai_20180319:r72c40', 'new', 'unconfirmed', 'low');


--
-- Data for Name: alerts_deforestation; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--

INSERT INTO lc_v2fixture.alerts_deforestation VALUES (1, '0106000020837F0000010000000103000000010000000D0000000000000038251141000000005E14404100000000382511410000000059144041000000001025114100000000591440410000000010251141000000004F1440410000000038251141000000004F1440410000000038251141000000004A1440410000000010251141000000004A14404100000000102511410000000045144041000000006025114100000000451440410000000060251141000000004F1440410000000088251141000000004F1440410000000088251141000000005E1440410000000038251141000000005E144041', 'deforestation:mumbai_20180319:r9c35', 'deforestation', 'unconfirmed', 'trees', 'built', '2018-03-19', '2018-03-19', 1, 0.0408, 'low', 0.11, 0.11, 0, 11, 'mumbai_20180319', 'standin@0.0.0+67646e9e20cc', 'run-00001', 'run-00001', 0, '2018-03-19');
INSERT INTO lc_v2fixture.alerts_deforestation VALUES (2, '0106000020837F0000010000000103000000010000000B00000000000000802D1141000000009613404100000000802D1141000000004613404100000000D02D1141000000004613404100000000D02D1141000000005F13404100000000F82D1141000000005F13404100000000F82D1141000000008213404100000000D02D1141000000008213404100000000D02D1141000000006913404100000000A82D1141000000006913404100000000A82D1141000000009613404100000000802D11410000000096134041', 'deforestation:mumbai_20180319:r49c88', 'deforestation', 'unconfirmed', 'trees', 'grass', '2018-03-19', '2018-03-19', 1, 0.0435, 'low', 0.2999, 0.2999, 0, 30, 'mumbai_20180319', 'standin@0.0.0+67646e9e20cc', 'run-00001', 'run-00001', 0, '2018-03-19');
INSERT INTO lc_v2fixture.alerts_deforestation VALUES (3, '0106000020837F0000010000000103000000010000000B000000000000000026114100000000231340410000000000261141000000001413404100000000B0251141000000001413404100000000B0251141000000000F13404100000000D8251141000000000F13404100000000D825114100000000F1124041000000000026114100000000F11240410000000000261141000000000A1340410000000028261141000000000A1340410000000028261141000000002313404100000000002611410000000023134041', 'deforestation:mumbai_20180319:r72c40', 'deforestation', 'unconfirmed', 'trees', 'grass', '2018-03-19', '2018-03-19', 1, 0.0402, 'low', 0.1299, 0.1299, 0, 13, 'mumbai_20180319', 'standin@0.0.0+67646e9e20cc', 'run-00001', 'run-00001', 0, '2018-03-19');


--
-- Data for Name: alerts_new; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--

INSERT INTO lc_v2fixture.alerts_new VALUES (1, '0106000020837F0000010000000103000000010000000D0000000000000038251141000000005E14404100000000382511410000000059144041000000001025114100000000591440410000000010251141000000004F1440410000000038251141000000004F1440410000000038251141000000004A1440410000000010251141000000004A14404100000000102511410000000045144041000000006025114100000000451440410000000060251141000000004F1440410000000088251141000000004F1440410000000088251141000000005E1440410000000038251141000000005E144041', 'deforestation:mumbai_20180319:r9c35', 'deforestation', 'unconfirmed', 'trees', 'built', '2018-03-19', '2018-03-19', 1, 0.0408, 'low', 0.11, 0.11, 0, 11, 'mumbai_20180319', 'standin@0.0.0+67646e9e20cc', 'run-00001', 'run-00001', 0, '2018-03-19', 'run-00001', 'new');
INSERT INTO lc_v2fixture.alerts_new VALUES (2, '0106000020837F0000010000000103000000010000000B00000000000000802D1141000000009613404100000000802D1141000000004613404100000000D02D1141000000004613404100000000D02D1141000000005F13404100000000F82D1141000000005F13404100000000F82D1141000000008213404100000000D02D1141000000008213404100000000D02D1141000000006913404100000000A82D1141000000006913404100000000A82D1141000000009613404100000000802D11410000000096134041', 'deforestation:mumbai_20180319:r49c88', 'deforestation', 'unconfirmed', 'trees', 'grass', '2018-03-19', '2018-03-19', 1, 0.0435, 'low', 0.2999, 0.2999, 0, 30, 'mumbai_20180319', 'standin@0.0.0+67646e9e20cc', 'run-00001', 'run-00001', 0, '2018-03-19', 'run-00001', 'new');
INSERT INTO lc_v2fixture.alerts_new VALUES (3, '0106000020837F0000010000000103000000010000000B000000000000000026114100000000231340410000000000261141000000001413404100000000B0251141000000001413404100000000B0251141000000000F13404100000000D8251141000000000F13404100000000D825114100000000F1124041000000000026114100000000F11240410000000000261141000000000A1340410000000028261141000000000A1340410000000028261141000000002313404100000000002611410000000023134041', 'deforestation:mumbai_20180319:r72c40', 'deforestation', 'unconfirmed', 'trees', 'grass', '2018-03-19', '2018-03-19', 1, 0.0402, 'low', 0.1299, 0.1299, 0, 13, 'mumbai_20180319', 'standin@0.0.0+67646e9e20cc', 'run-00001', 'run-00001', 0, '2018-03-19', 'run-00001', 'new');


--
-- Data for Name: alerts_water_gain; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--



--
-- Data for Name: alerts_water_loss; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--



--
-- Data for Name: consumers; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--



--
-- Data for Name: job; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--

INSERT INTO lc_v2fixture.job VALUES ('grid', '{"crs": "PROJCS[\"WGS 84 / UTM zone 43N\",GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AUTHORITY[\"EPSG\",\"4326\"]],PROJECTION[\"Transverse_Mercator\"],PARAMETER[\"latitude_of_origin\",0],PARAMETER[\"central_meridian\",75],PARAMETER[\"scale_factor\",0.9996],PARAMETER[\"false_easting\",500000],PARAMETER[\"false_northing\",0],UNIT[\"metre\",1,AUTHORITY[\"EPSG\",\"9001\"]],AXIS[\"Easting\",EAST],AXIS[\"Northing\",NORTH],AUTHORITY[\"EPSG\",\"32643\"]]", "epsg": 32643, "transform": [10.0, 0.0, 280560.0, 0.0, -10.0, 2107670.0], "width": 108, "height": 113}');
INSERT INTO lc_v2fixture.job VALUES ('landcover_version', '"0.1.0"');
INSERT INTO lc_v2fixture.job VALUES ('legend', '["water", "trees", "grass", "flooded_vegetation", "crops", "shrub_and_scrub", "built", "bare", "snow_and_ice"]');
INSERT INTO lc_v2fixture.job VALUES ('model_version', '"standin@0.0.0+67646e9e20cc"');
INSERT INTO lc_v2fixture.job VALUES ('name', '"v2fixture"');
INSERT INTO lc_v2fixture.job VALUES ('schema_version', '2');
INSERT INTO lc_v2fixture.job VALUES ('types', '["deforestation", "water_loss", "water_gain"]');


--
-- Data for Name: pixel_state; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--

INSERT INTO lc_v2fixture.pixel_state VALUES ('alerts_deforestation', 0, 113, 108, '<i4', '\x789cedd3310a80301405c118ef7f671b0bb110accce20c3cd27e583206000000b0b2ed1cebdb865e257af568d5e16f0100000000000000000000000000003c9b5f1fc02b7ab5e8d5a257cbbcbdac4daf16bd5af46ad1ab655ec6faf46ad1aa45af16bd5af46ad10b0000a8d8bf3e8057f46ad1ab61bf8c06bd5ab46ad1ab45af16bd5af402000000000000000000000000feec002699006f');
INSERT INTO lc_v2fixture.pixel_state VALUES ('alerts_water_gain', 0, 113, 108, '<i4', '\x789cedc13101000000c2a0f54f6d076fa00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000780cbeb00001');
INSERT INTO lc_v2fixture.pixel_state VALUES ('alerts_water_loss', 0, 113, 108, '<i4', '\x789cedc13101000000c2a0f54f6d076fa00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000780cbeb00001');
INSERT INTO lc_v2fixture.pixel_state VALUES ('base_class', 0, 113, 108, '|u1', '\x789cd59adb92db300886072ef4fe8fdcc416e2e7a48393edb6ead48965890f10207927c4af468d89f8fadfafedfefeba21f890aefe4ceed9341cdbccc3eb86aea6df8740f8201cccee991f8c7a11b73795d516372361a132d0a953c94c75ace10898a0ca0f735117ecb5a8d7bf06ac1bb2605d579d85ac5b9adac17827460cebd40583f5fededa98f2feced7fd0bd8a4bd6eafff3af2eea0d1c1d724eeb6f40069fd03d70bd56b621734779b36592764815d298b28acc57e434f82ebfb6215b1817d4192dc45880d6958f097b937eb5e236ac3ebb884776bfdda947d8f55c98dc67a5deb3a9edf2c16d625ccb15a64193bada37bc4534736916b583d1224157ab40b2901e62ce33708c3c06a434eb7eb3653e2f836526d2623ea5683a9f912d432d6d0791e80922e940d158f58d6d00b583c589963e4cb7d2958be57624f0c93d830550eaa8c65d18c3572190a3f03ab016b481899e25923cf4326e928c7d2299ec58ca851d2476cb11f403d3f3b8b4d11702cf1218fca6e45051f5abf506c1c061b2ee418e8c5c4ea17232bfab066d969c387691c4e5909ca2518d6431e364962a62ca7f78c95566ac7d221ec8a6e64c937f7a81e6bd68a9115e7e4acd436868fdc2e4ca098bf0f584298b2340c57ac65e3a2cea32ee3bc90b10e1adbfdcbd905cad4ac39d9fa306361e4455694367f3a50c687895d4bed9979728473766db1ea769da5cd8e5c8e8413ee33d654bcd36aca1ac56e22a188fa58912d4bf6afb4363b1dadcc189d2c5b5522ab8cf9152bf4e0c4bcde1856dc073ccbd5cb4a9ba2b61dd9954a58b2f2bd7221882adf79df1eb026cc3d9673dc062bd92b78ceca7cff1d96c6fd840521c7535673169cd4fac89adbf539cb978892b590f809cbcf5d15c5ec4994e1f6fb82b5d47987451c36959f625d3d09eb10f511ebf4d4b4a75c527b3d6b43d0ccae6c8fc75cae4eb9df62993dc5746fc0b658f8f0b95d1fb11eca9f317f8125a7ab03d6be36ae4a471654df6fdad8596cedda3bc97e85154f1c5f8311d53efc3f59ba09fe0a8b7e9e45bfc24a4fbebbb2ce588f76e66d1619d6e36de4afb216d3ec6e3f7cb8233abecc6cb318d76ba71e7e8df5a43d613ddd2cf763c3d875c8cade2dd2b368c63a4325efc6ab094f59fab678889ab02a51d3d3d91758d929fcc01ba66e64f9e558f0e2765ca9375931e63e60bd77b07f98758afa36ab50c09e0feb7185a4b30cf1ac75fb88456b56995fcf59e5a06a8d7205376b2fc8abe5ebec9495fd4dcfa38e583a3581456be492b04abdc87be8a41202cab1e6317050d93758cf246fb37ea45967a95d15b056e3acce60dd182c1f87a50417292803ce22491c9a7c89acac02bb3ba3ef268bed3c86c978a5f1763fee74e5a59a4bd04dedf236d6d193fb3bee4119ebb67b8795c84b35f030cfca25667563ab96143eec7699fae8564db48c4414826497cbe7719859674f8d2605925c96bf093859491c82252a540310cc24f8954ec562b691cde3a18e902e19e7586af68e5d6851f421e313ef43b71ac0d2d1664f0cd759f38c2cc36c292b63438b40221fecf2eb8566b9b74a3995debf96eabf5005167b96ea69d6c9c4b661e57f81cd2bc6c29bfae3a78c4527ef02eb758b231fb3385f2f17bcc6299e2531c8a6c56ae0d30db20c7306b28e823cdb97b08c886cac610133636530aba7f6a62cb0b0b2eb0facd63e9f');
INSERT INTO lc_v2fixture.pixel_state VALUES ('base_conf', 0, 113, 108, '|u1', '\x789c6d5a899adb2c127c87584003927ccc24d9fbdbf77fbaedaaea4676fe753233b22428fa3ea0f76ec53fb5b56ab5f5d19ab5defd17ae6b69fea09566566bc17ff31fbcec7ffd41f7d1156f58b36efe99e7ee7ffbe8865b3eb8dbf0699e471fafbbdff5997dae31fced3e87cdd1e7ac7e7f1f18dc67c7c3e143f1dfdfe5ccbe16cdeeb319ef6195bdeffe3ec6f1892f6358edb5bdcedeef3be618409ffebb8f7d3660f53605e22b3cfcc918133078172b121688f2bf437f5a0794bf77ccd905e630be566781bdce7ddcf7ee743aef80e3b38160bff2250eb0412b75f0c1b55670cae7c49302d6714262819f6098bfb7effb10c5e6dc993eb9633d8e79dfc179a199985e814a3e93df155460cdfe536bd5b55f40c41848c08617fdb1bfed74ce091cb27ad8e0ddc731e6fdf0056e155a01da309b4baf16d324954f8c0a40ade824ae11ca7504c441a96a93c2703c641b443b7f67c5d087937a1eb85336a32e0d49c499510050ad6ab915b0ce3d4c584528ef72505dcb8262fac7e9ea1ce223e638b0307bba5eb8c85c394047a3b0fc7f715504e6707dea5c9c6382a124ae86fa014d6342674239fd0ee44b66f8e7e8fb00d6eb343b0e4c5cb7568af50ad18e0a444cb7536e46a1719a16f45868beae885c1b970500628160a8d4b99fd38532bf1ec3ee779fbf40661b94ac80c314b52f1afae57fca56fc3f14cfff6cfe6babc15a2a0709a48dd7163c1cb4b73a0d86ba833bfdeb3cbadb985305316f9239a4dfc12b279c43884545d874b56dd4885445914a974258d7f3411dabdd570bbbf4eff3758cf63847cd99a0cb05466e54305f2a79470ccc9e5874689c3d08e355e1025d4c8e3568470396e87270f6cca7cbea7976c0dc3001dc628cdb62f9d0acf2e3875f6fdbed76e35f413b72e51ba48f6cc60595ae6bd546445c37f80c7bdec1b01b25e12ed2e906435d2445b68af77f607e5f00c1b61bb11a8c720b5e62796274215fe509abbc35afc7e9e6edfed7dfbf8135c4725b239fd22fe029e7f7cfedf6e326ac94579a1ffe962d188998003fec46ba11d1691ca79bc6f3842712bb86d45bc61b6a36184b242ff00f4c0467a9a0455a185882725daef467c092ee989b94b3b03fefd3ad0fb71cab49f1e4db1a052767b151570ac11cb7c0cf820342a9a117190519d7140dd37f99ab617f9ebb636d588e63c987a5df2c74a5460d5c4a2ebe398f0656b1e84ab016589cc106c3a57326b1bab0aa21420dc6c0115ea8c1e70bb58563c43d0fd80c6e0a0ff991f637bd6c2bae42bb8ac734607970b6c250b1f7c49a9d51026bc21dca21384b1d3360391bbab5e4bbfc617bc3b25817b03a3cd5e3389c0a3d4688a64cc11f85220daaa12ce1923a233283768fe845c1102bfc476b8165b46b8fedd61fe74991e0555103551a5d71a4a5bfd3d0d08316f1020e6161d116bb5c41cb7115f18b51c7bdbd631d22a515f0d0a834a199086c12793029cc56581671ecc26aa22b0d9cdf3ab0fc1d603defa11b7e7b5205ab720085773a2131c552fc4ce9124b1a200cc4ae20b0ea0f746ba706ec43bad13b497609902789c578bf82bb488918cd6466d1c52f0aa2bd29f8578d77c9238f82deb9bc84059fe98a6c0cf590a715face465f406f5e14a564ae11e18cf6a7d05d16c8d2162818d3bf0a5df09c030987a6a46495dcf4a639c3398605d3a1d30dd71450a55b8ba812b7d752c02e6682d4bbe6bab11bfd0233543941c6637a682d02d143e16afb034b32697486f2d5a1235c99918f348b2e2ccf15030b0a8949210db0cbe27b51a4ca3005e71baa0677442667ec0e955f594181e503cb53de013f0fe70f3246d518a808086a5571df27df621e6151ef23762b406fb7e074c893b72335868dc0f21d0b9aae17064119ea404889a0b4f82356c9d5f37a8be0e85737dd4e2c8524ae17265bdc9b21f7dd8945df2d36552a4b79931058b7f8a64915530504dc1bd04a6d0bab294d606e5998bad87ddfa9a9f4ee35c6065691de7116d29b81c399da5a66448ae18b2e7a1953f8e31d5811533ebb3b5d28e9e048677821628535892ed196b985d62eb54b296d91ddb4a803c941c655f29025c5eb7e18ca9601cf9d58edc24a01e1673944ca5c3ef60d2bf2c6ad326e85de2a6381bc6c3a96d7771d58a8e6f88a51e599e8866a954fac2a2cc6e0906b09b2a8ebd653b4b252d537e3eb915863ec16aed394dd2d8b21d6ed0d2b42a2294fc8124996052cd544b2b5fe81e5a51972f77104160bb00fac2aacfa89a5a4bc65182d997d19fdbdac1cb19bb59b437c7961e43e1881d6b1fac2aad49ebf60958c852d13bbf7f4468e31624b94348d591fb205604dc67eb7eb03208cdbf2d29f585bcae58f4c2db15ada708d18ce6fe0274c6abcd185e2fe10415531c12368b9e40f2b4b27455d0dbf9f856b4d07bfb0e45fbd6c40d983cc0cf2429b8109c4ae5017c1d7b3e1ad48ff03eb7257578c497d88fe8a4505d8b2221316ca09c7ba130bb4586221f2098b1ca26340dd5096372f45d9c41b56c6d01ac91eb0e0828c752b7b41aff3c29a912e3075f5a5c93aac128b35c3f616384c616b616d6f69e91b561ba1718e753fa6b0988166ddc0cc89566fc06a859eb5dc24ad3fe85a3a73e553e2296f05968b0e5873289df5bb35548a76bbb0bc9e86a3fac4cac89f58abb2556552580b16d57aca751dcbcdb82496b48e518ed201167c43896a2f2b962d8cab6454d3db89d51de6263fcf8e0f7d2fb07cbac062a51258ad44dc4cac6d69a3b056a5165e33b1a0bb6e9b2b7a2265dbd89c1056bdb0eac2c2db89556f1716e9ca6c5b5ef8038b3e7063442b4589e9865c92fe10ac63f78e95678de044ac9296423f7f59d926dd5b112d0288e8425e5faef40e0e9fc5c6cf9763a1d9815829ffcc0a1583b6772cb45332d4924fe99fa233559306c73262d11ae55fb6da3d29fdf57d5a0fac412cc4af5e23fe9720945856cbca752c13c4a44b58965899c7852f433772fefc3afba0efed4117ecb8870fdcb6461d09ac964131e9b2cbf1d6a86c40b3ba6461055c2db0f65f8e35036ba8ee625ccd2099114f3a292ddf946f5cfeef13ab2696e4a90ada3176e721b0d060847dd91b56897c86ebdb9477d51a1d30259ab608936149bac252361745197a6e8e75a0d0fec0423d1ed9e61bd656a3fd219f1085c9aaef02cbaa62b114b3d5501eaf89faf1fb138bd596a96fd89287ef746164d8b5cacdf6a6259ab844cd17156860edf3f8fde51172b0379658a5456c515e492ce849cd591756c4e24b235b2437c02ad262c54d60ed3f9f07749e0de179615914a2e1834bd85a6091b7e0eae251bdecadd6c0628353327479cdce5c945de4d11796bac8aa34b257740bac96518b5899cfd4e4afa8e44e440d47b2b0102b4d3d79f80dd83b92750b9d675dc4faebc63ceaaa566a7430df4accaad64455a6112e59d966455f965828ce8db5dfa01f53a61cb97a3885c0ca18522396ad9c305b1aea8944eda0ae20325b76919fa06bf4aaf845ac9b662a5983406af4da2b7a3017b8c9b506560dfe124691386a5a61a156458f883d53eeca8c16b129b1a20f00dd830f4cba22bec8df459b306a57a651236b81da8485fc16f59774832922b16ec0faa13a4881bcb0c22b577db76d8a655be88e6cbb45330eb9533671956323be377bbc6119b190ca3896c26ac98e03fd462623cc45c545f519a374969cd81fd9d400065dea8e3b286a58ea213728180b10739daef28655d296855bd53716ad1796fa78ec8f7c60a976417e38634f4cddbab0dfc0da563701d2c92cadd4b01ac619cf56885edfb15af4f2ab4527c35813cdd6a25e90254abeb7ad46ee9412922db3a3ce1c53c09d3d39fdb300ebda01950fad5df906b09e33fa5d59c6709b021dfaaa98922cbc6d16fd0fc94ebade153fa4addacb6b08bed9c7524f31721b6099b0dac28207ca98a2ce17b1dac2028df031a461f5304d68ead395c84012ab8fef178a94ae1e54765b9a3683b8efd16843ae733f024b9695415e3ba059e3d9851599aaf4cdf3a87161e5fa12eb16959db2c35e038b3b1b94dd3b56bafaf89258e5c2c29e5a2716e5c5a252f965c3ae476646acb5995b2a9bd0be51572a562d1582255bffa02b6d197461ffeefb39a487dd6c6121cf2daae0988bf7d96ec08a5cf18675a245b245e737768003cb3eb17cb589f55a585d7b7562c7b6b0b0f629ba565e5a88a5cae9ff608dc0aa51392a8f225dec6ff6cc5cd4149756882ef487c537065df8abf68e75ed6cb3d9cc3df61a790a779edc1561ebfdfba11c7ef1307d7b690b0b7421d4a48fe2fe953121b350f3d00d190e3217e64051c5c3af786aed589393ea7dabd15f0bacbae405fb8dce0fcb1458ab92b63fb1aab04cf136b1509b7fdf27da8725ba05caad3fb18ae4051ec6661a701756bbb05a74467affc4e2fba20b0e259212e5b5d141502730b0b6d0f3489e99b52ae6a7810516e41574950b4bfd8d11b96aab99cf6c5173c363c03adcbe142b23ac97ccb7ab5a195919255d430eef4d5ec5a0875ff7ac9ded0d4b1ea76834f7445863b6a8c4b71214e47111fbc41aa11b55d55c653e6fe37574b55af4ac85bb082cf6ac4a6095c4624c891864b9f1202ceeb9e7199685055dead84fd1ce8bb05a6c0cd15119373e1803a6a99facf4a510ebfac4c663eeb32c2c718b1e0058e3f5504fac73ab3e624aa8976c05fe6defd13569a9736158791e4654f24c0679d8038b653f48818ffa7a84b6771575abdc682b5f6dd8c38b923d9ffc154b3e97585d7a68351fb854f7615e9baf0da590465d74c141e278049bcf6a396b24cedcf4c8bc7a1c4e6aa63da19658b90fc7cda4e1f5d7fefb6539bd656e5e63f5d2292356947d5587395ad8abce6b240f3b4f45096b99b916378e7d9c7f7b994a84d6a236c9da43318987893a6d397a6995ff92ae372c97093b75b8d05e309f6a19731fc7efa7a97c0ccdaf116049a7df43dddea81bb52a1fe24a8c279a202dc45826e9c4d2d206cec0f05092b277ac638ee3d7b323ceb6abda78c732437fb60dc7aa89a54cfa0fba020ba75f10bfa6b078a288b2c3d5fef3d14b1c9268971ebed1c5a34ec092852716e39d718b39ed63618997a26bd00e20c9ee74ed8d5b694b4625622d396d931bf7c7a8577d45a98b2e1e158205d255f5b18fc422f312cb6fec7ddcfffeb5b7dcd7a31dab7c0b7da51f8575f4fa7637358c8e4267dae8313ae545d68525600da2cb9f00cb42fba49c2d932feeaee32490ff1c23712e39d1b6f8c1d473729764761eb1c26901a2b3cbd57c0dfb9c8f7ffedc59489028760b6b4d8fc03d3170c17993d9c46557f4196c8bf037c9da09012c4500d03549a28f3b7f3ff7ae8aa1869bab01260230cbc2ead23be54a48bcfa48ca083f7940cf699c436fa313b44b515d98df77ed0e3156685b9ebd1053658b223ab074a3f77c08f103cb7ad005dd80c0baf36b50f5b8b219a29cc737cec088621ea3b1ecbb0405a46b3f0645a5a38f9d9b08a008a72d8144a5c057f290589d6f0e9dbd0051c7ee58387b50a2aa4561a6fe5f8b236be4c44c79595b58896ce221091b64a1cd500cbd3545f131f7e781d32c95bb398561ac2996cb48114f7c2c0e8ee699bcce2563ba219cc0225dbc3bd1a4c9b7686b8eb5cfddebca79ece02acff6f529ce73593c933a4f1f4aae6097113acd8fdff17b30d21d7ffc092ef0ff8827b48441bb9efb713a5d5f2f7c6f713aafb13292cb647085cd74d115da36a40b7329fbd0374a88274b0daa6fa26b0eadde57dc3d0738627a8b1319f5136b76f29002e60d82ce2094cb1fa4049a7250526043600d9ee0f5159efb982f1c6a6b3aa524b25a8402921158a462847659f09144d1476031fce211d1eb06b21c8d6b8ea3fecff33cce5f8f3d7395d674b24e2dbf5044503a745e972731ecd2c5f4500294664f740665013d7cf0a03aba5238d6647da4a2771552ad44d181df8a47113d1a29eecbeb0a2bfc0715b0118bbabfcb6b0e1ad8f9eb85fc99895c76ffe8a244a91cfa609cc5282531b2264564a34e8e21d9ed7412601d9ebbfdf21432947c4cc7fab252a232293ae6ab3ddbcc9e2db482f4801df4371713a5f63cc23d274ed576f476c1b57e1cb026ba0e7fe9bcffe31778b8293b8aac67045b66cfd54e19f1804d86cc87ac0a76e566ba1f07dd102e688efbf9744a0e6c28c3e48ec7fdf1f59f7f0e9db930f671783a06fd0162c8e1d186b2e82657f2d3dfb0f6419b77b10c9afc7e3adb60dbc3e91cf371ccc7bffe363b4bacee39b78fb93bcece759de71324e19a5ee1c0ace71d0e005fef7e759cf7fbfde93fa7ff76a5769e1dcfd7dd018ffbe9b33b9918763e1ef75fcfe3f5df7fff0feee35c5f');
INSERT INTO lc_v2fixture.pixel_state VALUES ('base_obs', 0, 113, 108, '<i4', '\x789ceddc310ac020100041f5ff8f4e932a45b08b4ba6186c85c542c45b638c050000001c6bdebede07fbadf46ad0ab47ab0e670b0000000000000000000000000000e09d3fd92d7ab5e8d5a257cb7cac9c4daf16bd5af46ad1abc59cc016bd5ab46ad1ab45af16bd5af40200002adc5d5af46ad1abc1bb518f5e2d5ab5e8d5a2578b5e2d7a010000000000000000000000007f7601aa545f23');
INSERT INTO lc_v2fixture.pixel_state VALUES ('clear_count', 0, 113, 108, '<u2', '\x789cedc2310d000000022067ffd0d6f060d01400000000000000000000000000000000000000000000006e0d003d5f59');


--
-- Data for Name: runs; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--

INSERT INTO lc_v2fixture.runs VALUES (1, 'run-00001', 1, 'ok', '2026-12-05T08:36:12Z', 28.573, 'standin@0.0.0+67646e9e20cc', 2, 0, 0, 3, 0, 0, 0, '{"job": "v2fixture", "run_id": "run-00001", "store": "postgresql://***@localhost:5432/landcover_test#lc_v2fixture", "model_version": "standin@0.0.0+67646e9e20cc", "started_at": "2026-12-05T08:36:12Z", "landcover_version": "0.1.0", "status": "ok", "scenes": {"eligible": 2, "new": 2, "dates": ["2015-11-30", "2018-03-19"], "processed": 2, "cloudy": 0, "late": 0, "corrupt": 0, "cache_hits": 0, "rebaseline": false}, "skipped": [], "alerts": {"new": 3, "confirmed": 0, "highest": 0, "rejected": 0, "expired": 0, "recovered": 0, "grown": 0, "by_type": {"deforestation": {"new": 3, "confirmed": 0, "highest": 0, "rejected": 0, "expired": 0, "recovered": 0, "grown": 0, "new_area_ha": 0.5398, "total_unconfirmed": 3, "area_unconfirmed_ha": 0.5398, "total_confirmed": 0, "area_confirmed_ha": 0, "total_rejected": 0, "area_rejected_ha": 0, "total_expired": 0, "area_expired_ha": 0, "total_recovered": 0, "area_recovered_ha": 0}, "water_loss": {"new": 0, "confirmed": 0, "highest": 0, "rejected": 0, "expired": 0, "recovered": 0, "grown": 0, "new_area_ha": 0.0, "total_unconfirmed": 0, "area_unconfirmed_ha": 0, "total_confirmed": 0, "area_confirmed_ha": 0, "total_rejected": 0, "area_rejected_ha": 0, "total_expired": 0, "area_expired_ha": 0, "total_recovered": 0, "area_recovered_ha": 0}, "water_gain": {"new": 0, "confirmed": 0, "highest": 0, "rejected": 0, "expired": 0, "recovered": 0, "grown": 0, "new_area_ha": 0.0, "total_unconfirmed": 0, "area_unconfirmed_ha": 0, "total_confirmed": 0, "area_confirmed_ha": 0, "total_rejected": 0, "area_rejected_ha": 0, "total_expired": 0, "area_expired_ha": 0, "total_recovered": 0, "area_recovered_ha": 0}}}, "feed": "/tmp/tmp2xlbtmbc/pg/out/feeds/run-00001.geojson", "observations": "/tmp/tmp2xlbtmbc/pg/out/runs/run-00001.observations.tif", "never_seen_clearly": 0.0, "seconds": {"discover": 0.009, "classify": 28.436, "lifecycle": 0.023, "total": 28.573}}');


--
-- Data for Name: scenes; Type: TABLE DATA; Schema: lc_v2fixture; Owner: -
--

INSERT INTO lc_v2fixture.scenes VALUES (1, 'mumbai_20151130', '2015-11-30', 1, 'processed', 1, 'run-00001', 'standin@0.0.0+67646e9e20cc', NULL, NULL);
INSERT INTO lc_v2fixture.scenes VALUES (2, 'mumbai_20180319', '2018-03-19', 2, 'processed', 1, 'run-00001', 'standin@0.0.0+67646e9e20cc', NULL, NULL);


--
-- Name: alert_events_seq_seq; Type: SEQUENCE SET; Schema: lc_v2fixture; Owner: -
--

SELECT pg_catalog.setval('lc_v2fixture.alert_events_seq_seq', 3, true);


--
-- Name: runs_fid_seq; Type: SEQUENCE SET; Schema: lc_v2fixture; Owner: -
--

SELECT pg_catalog.setval('lc_v2fixture.runs_fid_seq', 1, true);


--
-- Name: scenes_fid_seq; Type: SEQUENCE SET; Schema: lc_v2fixture; Owner: -
--

SELECT pg_catalog.setval('lc_v2fixture.scenes_fid_seq', 2, true);


--
-- Name: alert_events alert_events_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.alert_events
    ADD CONSTRAINT alert_events_pkey PRIMARY KEY (seq);


--
-- Name: alerts_deforestation alerts_deforestation_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.alerts_deforestation
    ADD CONSTRAINT alerts_deforestation_pkey PRIMARY KEY (fid);


--
-- Name: alerts_new alerts_new_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.alerts_new
    ADD CONSTRAINT alerts_new_pkey PRIMARY KEY (fid);


--
-- Name: alerts_water_gain alerts_water_gain_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.alerts_water_gain
    ADD CONSTRAINT alerts_water_gain_pkey PRIMARY KEY (fid);


--
-- Name: alerts_water_loss alerts_water_loss_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.alerts_water_loss
    ADD CONSTRAINT alerts_water_loss_pkey PRIMARY KEY (fid);


--
-- Name: consumers consumers_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.consumers
    ADD CONSTRAINT consumers_pkey PRIMARY KEY (name);


--
-- Name: job job_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.job
    ADD CONSTRAINT job_pkey PRIMARY KEY (key);


--
-- Name: pixel_state pixel_state_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.pixel_state
    ADD CONSTRAINT pixel_state_pkey PRIMARY KEY (name, row0);


--
-- Name: runs runs_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.runs
    ADD CONSTRAINT runs_pkey PRIMARY KEY (fid);


--
-- Name: scenes scenes_pkey; Type: CONSTRAINT; Schema: lc_v2fixture; Owner: -
--

ALTER TABLE ONLY lc_v2fixture.scenes
    ADD CONSTRAINT scenes_pkey PRIMARY KEY (fid);


--
-- Name: alerts_deforestation_geom_idx; Type: INDEX; Schema: lc_v2fixture; Owner: -
--

CREATE INDEX alerts_deforestation_geom_idx ON lc_v2fixture.alerts_deforestation USING gist (geom);


--
-- Name: alerts_new_geom_idx; Type: INDEX; Schema: lc_v2fixture; Owner: -
--

CREATE INDEX alerts_new_geom_idx ON lc_v2fixture.alerts_new USING gist (geom);


--
-- Name: alerts_water_gain_geom_idx; Type: INDEX; Schema: lc_v2fixture; Owner: -
--

CREATE INDEX alerts_water_gain_geom_idx ON lc_v2fixture.alerts_water_gain USING gist (geom);


--
-- Name: alerts_water_loss_geom_idx; Type: INDEX; Schema: lc_v2fixture; Owner: -
--

CREATE INDEX alerts_water_loss_geom_idx ON lc_v2fixture.alerts_water_loss USING gist (geom);


--
-- PostgreSQL database dump complete
--

\unrestrict lXG3uJaZGvn5w1NSZ5dM4ZOsFzqfG7U5fTMosiWLbeDK8ndOddkxXi6OfNWDqIG

