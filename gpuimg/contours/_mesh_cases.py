"""The triangles of each marching-cubes configuration of a binary mask, as scikit-image makes them.

At level 0.5 on a binary mask, scikit-image's Lewiner marching cubes gives each 2 x 2 x 2 cube of
voxels the triangles of its configuration alone (its ambiguity tests read only the cube's 8 values),
each vertex one of 13 points of the unit cube: the 12 edge midpoints and the centre. Configuration
number: bit ``4 dz + 2 dy + dx`` is the cube's voxel ``(dz, dy, dx)``, as in
:func:`gpuimg.kernels.mesh.cube_cases`.

:data:`_TRIANGLES` is generated from ``skimage.measure.marching_cubes(cube, 0.5, method="lewiner")``
of each configuration (scikit-image 0.26; deriving it at run time costs about 10 ms per process):
for the configurations 0 .. 255 in order, separated by spaces, the letters of the :data:`POINTS` of
each triangle, three per triangle in scikit-image's order and winding, ``-`` where there is none.
``tests/contours/test_binary_mesh.py`` checks it against the installed scikit-image, configuration by
configuration.

From it, per configuration ``c`` and in voxel units (the spacing is applied by the caller, see
:func:`gpuimg.contours.binary_mesh_measures`): :data:`NORMALS` ``N_c``, the sum over its triangles
``(a, b, c)`` of ``(b - a) x (c - a)`` (twice the area vector); :data:`CONSTANTS` ``C_c``, the sum of
``a . (b x c)`` (six times the signed tetrahedra volume with the cube's origin); and the area's
terms: the distinct vectors ``(b - a) x (c - a)`` of all triangles, :data:`DIRECTIONS`, and how many
triangles of each configuration have each, :data:`DIRECTION_COUNTS`.
"""

import numpy as np

#: The 13 vertex positions of the unit cube (z, y, x) [voxels], lettered a .. m in this order.
POINTS = np.array(
    [
        [0.0, 0.0, 0.5],
        [0.0, 0.5, 0.0],
        [0.0, 0.5, 1.0],
        [0.0, 1.0, 0.5],
        [0.5, 0.0, 0.0],
        [0.5, 0.0, 1.0],
        [0.5, 0.5, 0.5],
        [0.5, 1.0, 0.0],
        [0.5, 1.0, 1.0],
        [1.0, 0.0, 0.5],
        [1.0, 0.5, 0.0],
        [1.0, 0.5, 1.0],
        [1.0, 1.0, 0.5],
    ]
)

_TRIANGLES = (
    "- bea fca beccef dhb dhaahe bahafhcdhchf dhchfchef idc dbibeiaciaie idffda bedeidefi cibbih "
    "ciaieaihe afbfhbfih iefhei ekj abjjbk jfkfckaekakc fcjckjcbk hkdkjdebdedj kjhjdhjad "
    "hkejekejfefacafacbdbcbdhbhe hkjhjfdhfcdf idckje acjijcjikdkikdb aedkdedkijikijf fidkfdbkdjfk "
    "cebecjijcjikhki ihchjcjacjhk ebakjhfhjhfi hkjfhjihf jlf ejbjlbfabfbl jlaalc jlelbelcb jlfhbd "
    "dfafdlhldlhjejh cdlhldlhjbjhjba lcdeldhedlej lijidjcfjcjd ejflfjflificdcicdabadabeaef idldjldaj "
    "lidldbjlbejb cfbjbfbjhlhjhli facjleieleih ajlhalihlbah ejlielhei ekffkl abfblfbkl ekakcaklc "
    "blcklb lhkhldfdldfbebf klfdkfadfhkd baedhckchckl cdhkchlck likdkikdecedecf facbidiblklb "
    "daeldekledli lidbldklb likhkiecfceb lgkgfkakfkahchahcggihliggcf lgklegelaialaibgbiihgghkebg "
    "lihlhk hmk kemeambhmbma fcamkh bhcmchcmfkfmfke bdkkdm eakamkadm bakfkakfmcmfmcd dmcmecefcmke "
    "hdkdckimkikc imhkhmhkehebabebadcdadcidih ahdhakfkakfmimf hdbmkieikief mkikcikbc mkiikckeceac "
    "kbaikafiakim imkeikfie jemmeh hmbmabmja jfmcmfmchahchae mjfbmfcbfmbh bdedjedmj djadmj "
    "ebadfcfdjmjd jfcdjcmjd jimijcecjcedhde dbhciamaiamj haeahdjfmimf jgmjhghjbfbjbfdgdffiggimhdg "
    "bcecmemjecim acimaijam jgmgembmembiaibiaggfijfggae jfijim mlhlfhjkhjhf "
    "ebhbeafaejfefjlkljlkmhmkehk cmlmchahchakjka ejklhmhlbcbl bjkjbfdfbfdlmld jkelfmamfmad "
    "cdlmldjbabjk mgdgkdedkdecjcecjgglcmlggjk icfcidhdimhihmklkmkljfjlifl ejkdbhfaciml mlikhjdjhjda "
    "dbhjkemli imlkfjfkcbck acfmlijke jgaglaialaibmbibmggkbjkggml limjke lfmfhmfeh hmbbmamlalfa "
    "ehahlalcahml bhmlbmcbl feledldmldeb mlfamfdma mgdmbgbmelemelagallcggcdbag mlcmcd mlifdcdfhehf "
    "imlhdbfac agdaigialelalemgmeehgghdimg dbhiml cgbgibmbibmelemelggfecfggli faclim aeblim mli lmi "
    "beamil icmcammaflmf bicibmembmelfle mhlhbldildlb dialaialemelemh flimilimhihdbdhdbcacbcafcfi "
    "icdlmfhfmfhe lmccmd dbmembmelalelac lmfmafmda efldelmdledb hbmblmbcl healhaclamhl mhbmbalmafla "
    "flmhfmefh kmemieljelei aljlaibiaibmkmb faeafcicflifilmjmlmjkekjfej ljfmikckikcb "
    "hdidhbebhkehekjmjkjmlilmhim hkmjilijdadj hkmcdiebaflj cdikmhljf dkmkdecedecjljc kdbdkmacjljc "
    "fljmekemadam kgbgjbfbjbfdldfdlggmdkmgglj kmhjelblelbc lgcgmchcmchakahakggjaljggkm baeljfkmh "
    "jflkmh fjiijm mejembibmbiafai caiamiajm cbemcejmeicm mhjbjhjbfdfbfdi faidiamejemh icdahbhamjma "
    "mgjgijcjijcedecedgghemhggdi fjcjdcjmd acfbedjdedjm jdamdj dbejdemdj jmfmbfbcfbmh "
    "mgjmfgfmchcmchagahheggejfag mhbambjma ejmemh mikiekife bkakiaifaikm kmikicekcaec kmickibkc "
    "kmhibdbiefei dgaghakahakfmfkfmggifdiggmh hkmebaicd icdmhk mdcemcfeckme "
    "kgbkagakfmfkfmcgcmmdggdbacg aekmakdam dbkdkm cgbchghcmfmcmfkgkffeggebhkg acfhkm baehkm mhk "
    "ilhhlk kelalelaibiaibh kflfkahakahcich kflfkeichbhc ildlbdlkb adedlelkeldi cdiafblbfblk "
    "kglkigikdedkdecgceefggflicg dchckhclk hdbceaecklkc lkfkdfdafkhd kglghldlhldfbfdfbggefkeggbh "
    "lbclkb keackalkc baflbfkbl kefkfl jeleilehi jalahlhilabh ljfecaceihie "
    "bgcbfgfbjhjbjhlglhhiggicflg ilddlbljbjeb diljdladj fljicdeba cdiflj cldledehdelj "
    "lgcldgdlhjhlhjbgbjjaggacdbg agdgfdldfdlhjhlhjggehaeggjf fljdbh ljebleclb ljalac fljaeb ljf "
    "khjhfjhif jkehabahfifh hicjhcajchjk bgcgecjcecjikijikgghibhggke ifdfkdkbdfjk "
    "dgadegedkikdkijgjiifggfaejg jgajcgcjikijikdgdkkbggbacdg cdiejk khjjhfhdfdcf ejkfachdb jkhdjhajd "
    "ejkbhd cfjkcjbck acfejk bajbjk kej eifehi fabhfbifh icaeiahie icbibh ebdiedfei difdfa aebcdi dic "
    "hdcfhcehf cfadbh hdahae hdb ebcecf cfa eba -"
)


def _derive():
    """The tables below, from :data:`_TRIANGLES`."""
    groups = _TRIANGLES.split(" ")
    letters = "".join(g for g in groups if g != "-")
    cases = np.repeat(np.arange(len(groups)), [0 if g == "-" else len(g) // 3 for g in groups])
    points = POINTS[np.frombuffer(letters.encode(), dtype=np.uint8) - ord("a")].reshape(-1, 3, 3)
    a, b, c = np.moveaxis(points, 1, 0)
    cross = np.cross(b - a, c - a)
    normals = np.stack([np.bincount(cases, cross[:, k], minlength=256) for k in range(3)], axis=1)
    constants = np.bincount(cases, (a * np.cross(b, c)).sum(axis=1), minlength=256)
    directions, which = np.unique(cross, axis=0, return_inverse=True)
    direction_counts = np.zeros((256, len(directions)))
    np.add.at(direction_counts, (cases, which.ravel()), 1.0)
    return cases, points, normals, constants, directions, direction_counts


#: Per triangle: its configuration ``(T,)`` and vertices ``(T, 3, 3)`` [voxels]. Per configuration:
#: ``N_c`` ``(256, 3)`` [voxels²] and ``C_c`` ``(256,)`` [voxels³]. The distinct ``(b - a) x (c - a)``
#: ``(D, 3)`` [voxels²], and how many triangles of each configuration have each ``(256, D)``.
TRIANGLE_CASES, TRIANGLE_POINTS, NORMALS, CONSTANTS, DIRECTIONS, DIRECTION_COUNTS = _derive()
